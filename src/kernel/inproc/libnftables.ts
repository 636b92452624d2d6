import koffi from 'koffi';

/**
 * libnftables (libnftables.so.1) in-process: the library behind the `nft` command, with its JSON
 * input and output. A context keeps the network namespace it was created in, so the namespace
 * worker makes one per namespace while it is inside it, and reuses it.
 */

const NFT_CTX_OUTPUT_JSON = 1 << 4;

/* eslint-disable @typescript-eslint/no-explicit-any -- koffi functions are untyped */
interface Nft {
  ctxNew: (flags: number) => unknown;
  ctxFree: (ctx: unknown) => void;
  setOutputFlags: (ctx: unknown, flags: number) => void;
  bufferOutput: (ctx: unknown) => number;
  bufferError: (ctx: unknown) => number;
  outputBuffer: (ctx: unknown) => string | null;
  errorBuffer: (ctx: unknown) => string | null;
  run: (ctx: unknown, cmd: string) => number;
}

let lib: Nft | undefined;

function nft(): Nft {
  if (lib) return lib;
  const l = koffi.load('libnftables.so.1');
  const f = (decl: string) => l.func(decl) as (...args: any[]) => any;
  lib = {
    ctxNew: f('void *nft_ctx_new(uint32_t flags)'),
    ctxFree: f('void nft_ctx_free(void *ctx)'),
    setOutputFlags: f('void nft_ctx_output_set_flags(void *ctx, unsigned int flags)'),
    bufferOutput: f('int nft_ctx_buffer_output(void *ctx)'),
    bufferError: f('int nft_ctx_buffer_error(void *ctx)'),
    outputBuffer: f('const char *nft_ctx_get_output_buffer(void *ctx)'),
    errorBuffer: f('const char *nft_ctx_get_error_buffer(void *ctx)'),
    run: f('int nft_run_cmd_from_buffer(void *ctx, const char *buf)'),
  };
  return lib;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface NftResult {
  ok: boolean;
  output: string;
  error: string;
}

/** One libnftables context (JSON in and out, output and errors buffered). Not thread-safe. */
export class NftContext {
  private ctx: unknown;

  constructor() {
    const n = nft();
    const ctx = n.ctxNew(0);
    if (ctx === null) throw new Error('nft_ctx_new failed');
    n.setOutputFlags(ctx, NFT_CTX_OUTPUT_JSON);
    n.bufferOutput(ctx);
    n.bufferError(ctx);
    this.ctx = ctx;
  }

  /** Runs commands (nft JSON {"nftables": [...]}): one transaction. */
  run(command: string): NftResult {
    if (this.ctx === null) throw new Error('internal: nftables context used after free');
    const n = nft();
    const rc = n.run(this.ctx, command);
    // Reading a buffer also resets it for the next command.
    return { ok: rc === 0, output: n.outputBuffer(this.ctx) ?? '', error: n.errorBuffer(this.ctx) ?? '' };
  }

  free(): void {
    if (this.ctx !== null) nft().ctxFree(this.ctx);
    this.ctx = null;
  }
}
