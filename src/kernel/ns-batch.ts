import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { ExecResult } from './exec.js';
import { exec, inNamespace, mapLimit } from './exec.js';
import { makeTempDir } from './private-temp.js';
import type { KernelStats, NsRef } from './types.js';

/** A command to run inside one namespace, with what to feed its stdin. */
export interface NsCommand {
  ns: NsRef;
  argv: readonly string[];
  input?: string;
}

// Markers carry a random token per chunk, so no command output can be mistaken for them.
const marks = (token: string) => ({ rc: `@@weft-rc-${token} `, err: `@@weft-err-${token} ` });

/** Quotes a word for sh: single quotes, with embedded ones closed and escaped. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The sh script that runs `cmds` one after another, each entered with nsenter (a single setns; no
 * mount-table copy as with `ip -n`), its input as a quoted here-document. After each command it
 * prints its stderr as `@@weft-err-TOKEN` lines and its status as a `@@weft-rc-TOKEN` line, all
 * with shell builtins, so the only processes are the commands themselves. Pure.
 */
export function chunkScript(cmds: readonly NsCommand[], errFile: string, token: string): string {
  const { rc: RC, err: ERR } = marks(token);
  const eof = `@@weft-eof-${token}`;
  const lines: string[] = [`E=${shellQuote(errFile)}`];
  for (const c of cmds) {
    const argv = inNamespace(c.ns.path, c.argv).map(shellQuote).join(' ');
    const input = c.input ?? '';
    if (input.split('\n').includes(eof)) throw new Error('internal: here-document delimiter found in the input');
    const body = input === '' || input.endsWith('\n') ? input : `${input}\n`;
    lines.push(`${argv} 2>"$E" <<'${eof}'\n${body}${eof}`);
    // The newline ends output that lacks one, so the markers always start a line.
    lines.push(`rc=$?; printf '\\n'; while IFS= read -r l || [ -n "$l" ]; do printf '${ERR}%s\\n' "$l"; done < "$E"; printf '${RC}%d\\n' $rc`);
  }
  return `${lines.join('\n')}\n`;
}

/** Splits a chunk's output into one result per command (fewer if the sh ended early). Pure. */
export function splitChunkOutput(stdout: string, count: number, token: string): ExecResult[] {
  const { rc: RC, err: ERR } = marks(token);
  const out: ExecResult[] = [];
  let body: string[] = [];
  let err: string[] = [];
  for (const line of stdout.split('\n')) {
    if (out.length >= count) break;
    if (line.startsWith(RC)) {
      // Drop the newline the script added after the command's output.
      if (body.at(-1) === '') body.pop();
      out.push({ code: Number(line.slice(RC.length)), stdout: body.length > 0 ? `${body.join('\n')}\n` : '', stderr: err.length > 0 ? `${err.join('\n')}\n` : '' });
      body = [];
      err = [];
    } else if (line.startsWith(ERR)) err.push(line.slice(ERR.length));
    else body.push(line);
  }
  return out;
}

/** Commands per sh: large enough that Node spawns few children, small enough for progress. */
const CHUNK = 50;

/**
 * Runs commands in many namespaces through a few sh processes (at most `limit` at a time, up to
 * 50 commands each) instead of one Node child each: Node's spawn costs 1–5 ms of main-thread CPU
 * per child, sh's fork a fraction of that. Every command runs, also after another one failed.
 * Results keep the order of `cmds`; `onChunk` is told how many are done as chunks finish. Counts
 * one process per command plus one per sh. A command whose sh died (killed, timeout) gets code 128
 * and the reason as stderr.
 */
export async function execInNamespaces(cmds: readonly NsCommand[], limit: number, stats: KernelStats, onChunk?: (done: number) => void): Promise<ExecResult[]> {
  if (cmds.length === 0) return [];
  const size = Math.min(CHUNK, Math.ceil(cmds.length / Math.max(1, limit)));
  const chunks = Array.from({ length: Math.ceil(cmds.length / size) }, (_, i) => cmds.slice(i * size, (i + 1) * size));
  const dir = await makeTempDir('ns');
  let done = 0;
  try {
    const parts = await mapLimit(chunks, limit, async (mine) => {
      const token = randomBytes(6).toString('hex');
      const script = chunkScript(mine, path.join(dir, `err-${token}`), token);
      const res = await exec(['sh', '-s'], stats, { input: script, timeoutMs: 60_000 + 1_000 * mine.length });
      stats.processes += mine.length;
      const results = splitChunkOutput(res.stdout, mine.length, token);
      while (results.length < mine.length) results.push({ code: 128, stdout: '', stderr: `the sh running namespace commands ended early (exit ${res.code}): ${res.stderr}` });
      done += mine.length;
      onChunk?.(done);
      return results;
    });
    return parts.flat();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
