import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KernelError } from '../errors.js';
import type { Logger } from '../log.js';
import { exec, inNamespace, mapLimit } from './exec.js';
import { failedBatchLine, parseAddresses, parseFdb, parseLinks, parseNeighbours, parseRoutes, splitJsonLines } from './ip-parse.js';
import { renderFdbOp, renderIpOp } from './ip-render.js';
import type { Kernel, KernelProgram, KernelStats, NsReadRequest, NsRef, NsSnapshot, NsWork, ProgressFn } from './types.js';

export interface RealKernelOptions {
  log: Logger;
  /** Concurrent processes when reading or writing many namespaces (2-core machines: 4 measured best). */
  concurrency?: number;
}

const SEP = '----weft-sysctls----';
const NFT_SEP = '----weft-nft----';
const FDB_SEP = '----weft-fdb----';
const MISSING = '<missing>';

// Reads a namespace in one process: links, addresses, routes (and neighbours when the first
// argument is "neigh") as JSON, the sysctls asked for, then nftables tables (arguments after
// "::nft", as family/name pairs), one JSON line each. When the second argument is "fdb", the
// forwarding entries of every VXLAN device follow, one "name=JSON" line per device.
const READ_SCRIPT = `lines='link show
addr show
route show table all'
[ "$1" = neigh ] && lines="$lines
neigh show"
fdb=$2; shift 2
printf '%s\\n' "$lines" | ip -d -j -batch - || exit 3
echo '${SEP}'
while [ $# -gt 0 ] && [ "$1" != ::nft ]; do printf '%s=' "$1"; cat "/proc/sys/$1" 2>/dev/null || echo '${MISSING}'; shift; done
[ $# -gt 0 ] && shift
echo '${NFT_SEP}'
while [ $# -gt 1 ]; do printf '%s %s=' "$1" "$2"; nft -j list table "$1" "$2" 2>/dev/null || echo null; shift 2; done
[ "$fdb" = fdb ] || exit 0
echo '${FDB_SEP}'
ip -o link show type vxlan | while read -r _ n _; do n=\${n%:}; n=\${n%@*}; printf '%s=' "$n"; bridge -j fdb show dev "$n" || exit 3; echo; done`;

// Writes a namespace in one process: the ip batch from stdin, then (second argument, may be
// empty) a bridge batch file of forwarding entries, sysctls given as path/value pairs, then
// (first argument, may be empty) an nftables JSON file as one transaction.
const WRITE_SCRIPT = `nftfile=$1; fdbfile=$2; shift 2
ip -batch - || exit $?
if [ -n "$fdbfile" ]; then bridge -batch "$fdbfile" || exit 6; fi
while [ $# -gt 1 ]; do printf '%s' "$2" > "/proc/sys/$1" || { echo "sysctl $1" >&2; exit 4; }; shift 2; done
if [ -n "$nftfile" ]; then nft -j -f "$nftfile" || exit 5; fi`;

/** The kernel reached through iproute2 and /proc. The only code that changes the system. */
export class RealKernel implements Kernel {
  readonly stats: KernelStats = { processes: 0, writes: 0 };
  private readonly log: Logger;
  private readonly concurrency: number;
  private tempSeq = 0;

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
    const extra = [req.neighbours ? 'neigh' : '-', req.fdb ? 'fdb' : '-'];
    const argv = inNamespace(req.ns.path, ['sh', '-c', READ_SCRIPT, 'sh', ...extra, ...req.sysctls, '::nft', ...tables]);
    const res = await exec(argv, this.stats);
    if (res.code !== 0) {
      // A namespace deleted between listing and reading is simply gone.
      if (/No such file|Invalid argument|reassociate/.test(res.stderr)) return null;
      throw new KernelError(`reading namespace ${req.ns.key}`, argv.join(' '), res.stderr);
    }
    const [json, rest = ''] = res.stdout.split(`${SEP}\n`);
    const [sys = '', nftAndFdb = ''] = rest.split(`${NFT_SEP}\n`);
    const [nftText = '', fdbText] = nftAndFdb.split(`${FDB_SEP}\n`);
    const [links, addrs, routes, neigh] = splitJsonLines(json ?? '');
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
    const snap: NsSnapshot = { links: parseLinks(links ?? []), addresses: parseAddresses(addrs ?? []), routes: parseRoutes(routes ?? []), sysctls, nft };
    if (req.neighbours) snap.neighbours = parseNeighbours(neigh ?? []);
    if (fdbText !== undefined) {
      snap.fdb = fdbText.split('\n').flatMap((line) => {
        const eq = line.indexOf('=');
        return eq < 0 ? [] : parseFdb(line.slice(0, eq), JSON.parse(line.slice(eq + 1) || '[]'));
      });
    }
    return snap;
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
    await mapLimit(program.early ?? [], this.concurrency, (w) => this.runWork(w));
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
    const fdb = work.fdb ?? [];
    if (work.ip.length === 0 && fdb.length === 0 && work.sysctls.length === 0 && work.nft.length === 0) return;
    const lines = work.ip.map(renderIpOp);
    const fdbLines = fdb.map(renderFdbOp);
    const pairs = work.sysctls.flatMap((s) => [s.path, s.value]);
    // nft JSON and forwarding entries can exceed the 128 KiB limit of one argument: hand them over in files.
    const temp: string[] = [];
    const tempFile = async (kind: string, content: string) => {
      const f = path.join(tmpdir(), `weft-${kind}-${process.pid}-${++this.tempSeq}`);
      temp.push(f);
      await writeFile(f, content);
      return f;
    };
    const nftFile = work.nft.length > 0 ? await tempFile('nft', JSON.stringify({ nftables: work.nft })) : '';
    const fdbFile = fdbLines.length > 0 ? await tempFile('fdb', `${fdbLines.join('\n')}\n`) : '';
    const argv = inNamespace(work.ns.path, ['sh', '-c', WRITE_SCRIPT, 'sh', nftFile, fdbFile, ...pairs]);
    this.log.debug({ ns: work.ns.key, lines: lines.length, fdb: fdbLines.length, sysctls: work.sysctls.length, nft: work.nft.length }, 'writing namespace');
    let res;
    try {
      res = await exec(argv, this.stats, { input: lines.length > 0 ? `${lines.join('\n')}\n` : '' });
    } finally {
      await Promise.all(temp.map((f) => rm(f, { force: true })));
    }
    this.stats.writes += lines.length + fdbLines.length + work.sysctls.length + work.nft.length;
    if (res.code === 0) return;
    if (res.code === 5) throw new KernelError(`loading nftables rules in namespace ${work.ns.key}`, 'nft -j -f', res.stderr);
    if (res.code === 6) {
      const m = /Command failed \S*:(\d+)/.exec(res.stderr);
      const i = m ? Number(m[1]) - 1 : -1;
      const op = fdb[i];
      if (op) throw new KernelError(`${op.what} in namespace ${work.ns.key}`, `bridge ${fdbLines[i] ?? ''}`, res.stderr.replace(/Command failed \S*:\d+\s*$/, ''));
      throw new KernelError(`writing forwarding entries in namespace ${work.ns.key}`, 'bridge -batch', res.stderr);
    }
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
