import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KernelError } from '../errors.js';
import type { Logger } from '../log.js';
import { exec, inNamespace, mapLimit } from './exec.js';
import { failedBatchLine, parseAddresses, parseLinks, parseRoutes, splitJsonLines } from './ip-parse.js';
import { renderIpOp } from './ip-render.js';
import type { Kernel, KernelProgram, KernelStats, NsReadRequest, NsRef, NsSnapshot, NsWork, ProgressFn } from './types.js';

export interface RealKernelOptions {
  log: Logger;
  /** Concurrent processes when reading or writing many namespaces (2-core machines: 4 measured best). */
  concurrency?: number;
}

const SEP = '----weft-sysctls----';
const NFT_SEP = '----weft-nft----';
const MISSING = '<missing>';

// Reads a namespace in one process: links, addresses, routes as JSON, the sysctls asked for,
// then nftables tables (arguments after "::nft", as family/name pairs), one JSON line each.
const READ_SCRIPT = `printf 'link show\\naddr show\\nroute show table all\\n' | ip -d -j -batch - || exit 3
echo '${SEP}'
while [ $# -gt 0 ] && [ "$1" != ::nft ]; do printf '%s=' "$1"; cat "/proc/sys/$1" 2>/dev/null || echo '${MISSING}'; shift; done
[ $# -gt 0 ] && shift
echo '${NFT_SEP}'
while [ $# -gt 1 ]; do printf '%s %s=' "$1" "$2"; nft -j list table "$1" "$2" 2>/dev/null || echo null; shift 2; done`;

// Writes a namespace in one process: the ip batch from stdin, sysctls given as path/value pairs,
// then (first argument, may be empty) an nftables JSON file as one transaction.
const WRITE_SCRIPT = `nftfile=$1; shift
ip -batch - || exit $?
while [ $# -gt 1 ]; do printf '%s' "$2" > "/proc/sys/$1" || { echo "sysctl $1" >&2; exit 4; }; shift 2; done
if [ -n "$nftfile" ]; then nft -j -f "$nftfile" || exit 5; fi`;

/** The kernel reached through iproute2 and /proc. The only code that changes the system. */
export class RealKernel implements Kernel {
  readonly stats: KernelStats = { processes: 0, writes: 0 };
  private readonly log: Logger;
  private readonly concurrency: number;
  private nftSeq = 0;

  constructor(opts: RealKernelOptions) {
    this.log = opts.log;
    this.concurrency = opts.concurrency ?? 4;
  }

  async listNetns(): Promise<string[]> {
    try {
      return (await readdir('/run/netns')).sort();
    } catch {
      return [];
    }
  }

  async readNamespaces(reqs: readonly NsReadRequest[]): Promise<Map<string, NsSnapshot | null>> {
    const results = await mapLimit(reqs, this.concurrency, (r) => this.readNamespace(r));
    return new Map(reqs.map((r, i) => [r.ns.key, results[i] ?? null]));
  }

  private async readNamespace(req: NsReadRequest): Promise<NsSnapshot | null> {
    const tables = (req.nftTables ?? []).flatMap((t) => [t.family, t.name]);
    const argv = inNamespace(req.ns.path, ['sh', '-c', READ_SCRIPT, 'sh', ...req.sysctls, '::nft', ...tables]);
    const res = await exec(argv, this.stats);
    if (res.code !== 0) {
      // A namespace deleted between listing and reading is simply gone.
      if (/No such file|Invalid argument|reassociate/.test(res.stderr)) return null;
      throw new KernelError(`reading namespace ${req.ns.key}`, argv.join(' '), res.stderr);
    }
    const [json, rest = ''] = res.stdout.split(`${SEP}\n`);
    const [sys = '', nftText = ''] = rest.split(`${NFT_SEP}\n`);
    const [links, addrs, routes] = splitJsonLines(json ?? '');
    const sysctls: Record<string, string | null> = {};
    for (const line of sys.split('\n')) {
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      const v = line.slice(eq + 1);
      sysctls[line.slice(0, eq)] = v === MISSING ? null : v.trim();
    }
    const nft: Record<string, unknown[] | null> = {};
    for (const line of nftText.split('\n')) {
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      nft[line.slice(0, eq)] = parseNftList(line.slice(eq + 1));
    }
    return { links: parseLinks(links ?? []), addresses: parseAddresses(addrs ?? []), routes: parseRoutes(routes ?? []), sysctls, nft };
  }

  async readFiles(paths: readonly string[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    await Promise.all(
      paths.map(async (p) => {
        try {
          out.set(p, await readFile(p, 'utf8'));
        } catch {
          out.set(p, null);
        }
      }),
    );
    return out;
  }

  async listDir(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).sort();
    } catch {
      return [];
    }
  }

  async run(program: KernelProgram, progress?: ProgressFn): Promise<void> {
    if (program.netnsDelete.length > 0) await this.netnsBatch('del', program.netnsDelete);
    if (program.netnsAdd.length > 0) await this.netnsBatch('add', program.netnsAdd);
    await this.runWork(program.host);
    let done = 0;
    const total = program.containers.length;
    await mapLimit(program.containers, this.concurrency, async (w) => {
      await this.runWork(w);
      progress?.(++done, total);
    });
    await this.runFiles(program);
    for (const g of program.awaitGone) await this.awaitGone(g.ns, g.links);
  }

  private async netnsBatch(verb: 'add' | 'del', names: readonly string[]): Promise<void> {
    const lines = names.map((n) => `netns ${verb} ${n}`);
    const res = await exec(['ip', '-batch', '-'], this.stats, { input: `${lines.join('\n')}\n`, timeoutMs: 300_000 });
    this.stats.writes += lines.length;
    if (res.code !== 0) {
      const line = failedBatchLine(res.stderr);
      const what = line !== undefined ? lines[line - 1] : lines.join('; ');
      throw new KernelError(`${verb === 'add' ? 'creating' : 'deleting'} namespace`, `ip ${what ?? ''}`, res.stderr);
    }
  }

  private async runWork(work: NsWork): Promise<void> {
    if (work.ip.length === 0 && work.sysctls.length === 0 && work.nft.length === 0) return;
    const lines = work.ip.map(renderIpOp);
    const pairs = work.sysctls.flatMap((s) => [s.path, s.value]);
    // nft JSON can exceed the 128 KiB limit of one argument: hand it over in a file.
    let nftFile = '';
    if (work.nft.length > 0) {
      nftFile = path.join(tmpdir(), `weft-nft-${process.pid}-${++this.nftSeq}.json`);
      await writeFile(nftFile, JSON.stringify({ nftables: work.nft }));
    }
    const argv = inNamespace(work.ns.path, ['sh', '-c', WRITE_SCRIPT, 'sh', nftFile, ...pairs]);
    this.log.debug({ ns: work.ns.key, lines: lines.length, sysctls: work.sysctls.length, nft: work.nft.length }, 'writing namespace');
    let res;
    try {
      res = await exec(argv, this.stats, { input: lines.length > 0 ? `${lines.join('\n')}\n` : '' });
    } finally {
      if (nftFile) await rm(nftFile, { force: true });
    }
    this.stats.writes += lines.length + work.sysctls.length + work.nft.length;
    if (res.code === 0) return;
    if (res.code === 5) throw new KernelError(`loading nftables rules in namespace ${work.ns.key}`, 'nft -j -f', res.stderr);
    const n = failedBatchLine(res.stderr);
    const op = n !== undefined ? work.ip[n - 1] : undefined;
    if (op) throw new KernelError(`${op.what} in namespace ${work.ns.key}`, `ip ${lines[(n ?? 1) - 1]}`, res.stderr.replace(/Command failed -:\d+\s*$/, ''));
    throw new KernelError(`writing namespace ${work.ns.key}`, argv.slice(0, 3).join(' '), res.stderr);
  }

  private async runFiles(program: KernelProgram): Promise<void> {
    const f = program.files;
    for (const w of f.write) {
      await mkdir(path.dirname(w.path), { recursive: true });
      // Write then rename, so a reader never sees half a file.
      const tmp = `${w.path}.weft-tmp`;
      await writeFile(tmp, w.content);
      await rename(tmp, w.path);
      this.stats.writes++;
    }
    for (const p of f.remove) {
      await rm(p, { force: true });
      this.stats.writes++;
    }
    for (const d of f.removeDirs) {
      try {
        await rmdir(d);
      } catch {
        /* not empty (someone else's files) or already gone: leave it */
      }
    }
  }

  /** Deleting a namespace destroys its veths asynchronously (up to ~2 s at scale): wait for them. */
  private async awaitGone(ns: NsRef, links: readonly string[]): Promise<void> {
    const deadline = Date.now() + 10_000;
    let remaining = new Set(links);
    while (remaining.size > 0 && Date.now() < deadline) {
      const res = await exec(inNamespace(ns.path, ['ip', '-j', 'link', 'show']), this.stats);
      if (res.code !== 0) return;
      const present = new Set(parseLinks(JSON.parse(res.stdout || '[]')).map((l) => l.name));
      remaining = new Set([...remaining].filter((l) => present.has(l)));
      if (remaining.size > 0) await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** `nft -j list table` output without its metainfo; null when the table does not exist. */
function parseNftList(text: string): unknown[] | null {
  const t = text.trim();
  if (t === '' || t === 'null') return null;
  const doc = JSON.parse(t) as { nftables?: Record<string, unknown>[] };
  return (doc.nftables ?? []).filter((o) => !('metainfo' in o));
}
