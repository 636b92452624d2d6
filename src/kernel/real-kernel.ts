import { readdir } from 'node:fs/promises';
import { KernelError } from '../errors.js';
import type { Logger } from '../log.js';
import { InProcessKernel } from './inproc-kernel.js';
import type { ExecResult } from './exec.js';
import { checkNftTable, checkSysctl } from './guard.js';
import { checkBeforeRun, finishProgram, listFolder, readTextFiles, stageTimer } from './program-io.js';
import { exec, inNamespace, mapLimit } from './exec.js';
import type { NsCommand } from './ns-batch.js';
import { execInNamespaces } from './ns-batch.js';
import { clearHalfMade, dropIntents, readIntents, recordIntents } from './netns-intents.js';
import { PrivateTemp, sweepDeadTemps } from './private-temp.js';
import { failedBatchLine, parseAddresses, parseFdb, parseLinks, parseNeighbours, parseRoutes, splitJsonLines } from './ip-parse.js';
import { renderFdbOp, renderIpOp } from './ip-render.js';
import type { Kernel, KernelProgram, KernelStats, NsReadRequest, NsReadSpec, NsRef, NsSnapshot, NsSockets, NsWork, ProgressFn, ReadBack } from './types.js';
import { workWrites } from './types.js';

export interface RealKernelOptions {
  log: Logger;
  /** Concurrent processes when reading or writing many namespaces (2-core machines: 4 measured best). */
  concurrency?: number;
}

/** File operations in flight at once when writing /etc/netns (libuv's pool runs 4; the rest queue). */
const FILE_CONCURRENCY = 32;

const SEP = '----weft-sysctls----';
const NFT_SEP = '----weft-nft----';
const FDB_SEP = '----weft-fdb----';

// Reads a namespace in one process: links, addresses, routes (and neighbours when the first
// argument is "neigh") as JSON; then the sysctls asked for (third argument: their paths under
// /proc/sys, one per line) as "path:value" lines from one grep (a missing file prints nothing; the
// shell's read builtin cannot be used: /proc/sys files end a byte-wise read after the first
// byte); then nftables tables (the other arguments, as family/name pairs), one JSON line each.
// When the second argument is "fdb", the forwarding entries of every VXLAN device follow, one
// "name=JSON" line per device.
const READ_SCRIPT = `lines='link show
addr show
route show table all'
[ "$1" = neigh ] && lines="$lines
neigh show"
fdb=$2; shift 2
printf '%s\\n' "$lines" | ip -d -j -batch - || exit 3
echo '${SEP}'
if [ -n "$1" ]; then (cd /proc/sys && IFS='
' && set -f && grep -H '' -- $1 2>/dev/null); fi
shift
echo '${NFT_SEP}'
while [ $# -gt 1 ]; do printf '%s %s=' "$1" "$2"; nft -j list table "$1" "$2" 2>/dev/null || echo null; shift 2; done
[ "$fdb" = fdb ] || exit 0
echo '${FDB_SEP}'
ip -o link show type vxlan | while read -r _ n _; do n=\${n%:}; n=\${n%@*}; printf '%s=' "$n"; bridge -j fdb show dev "$n" || exit 3; echo; done`;

// Without anything but links, addresses and routes to read, ip alone (no shell) reads the namespace.
const IP_READ = ['ip', '-d', '-j', '-batch', '-'];
const IP_READ_INPUT = 'link show\naddr show\nroute show table all\n';

// Writes a namespace in one process: the early sysctls (third argument: how many path/value
// pairs follow the fourth), the ip batch from stdin, then (second argument, may be empty) a bridge
// batch file of forwarding entries, the other sysctls (fourth argument: how many pairs follow the
// early ones), then (first argument, may be empty) an nftables JSON file as one transaction.
const WRITE_SCRIPT = `nftfile=$1; fdbfile=$2; e=$3; n=$4; shift 4
while [ "$e" -gt 0 ]; do printf '%s' "$2" > "/proc/sys/$1" || { echo "sysctl $1" >&2; exit 4; }; shift 2; e=$((e - 1)); done
ip -batch - || exit $?
if [ -n "$fdbfile" ]; then bridge -batch "$fdbfile" || exit 6; fi
while [ "$n" -gt 0 ]; do printf '%s' "$2" > "/proc/sys/$1" || { echo "sysctl $1" >&2; exit 4; }; shift 2; n=$((n - 1)); done
if [ -n "$nftfile" ]; then nft -j -f "$nftfile" || exit 5; fi`;

// Writes a namespace, then reads it back in the same process (verification costs no process of
// its own): WRITE_SCRIPT's arguments, then READ_SCRIPT's. The marker line tells a failed write
// from a failed read.
const WRITTEN = '----weft-written----';
const WRITE_READ_SCRIPT = `${WRITE_SCRIPT}
echo '${WRITTEN}'
${READ_SCRIPT}`;

/** READ_SCRIPT's arguments for a read request. */
function readArgs(r: NsReadSpec): string[] {
  for (const p of r.sysctls) checkSysctl({ path: p });
  for (const t of r.nftTables ?? []) checkNftTable(t);
  return [r.neighbours ? 'neigh' : '-', r.fdb ? 'fdb' : '-', r.sysctls.join('\n'), ...(r.nftTables ?? []).flatMap((t) => [t.family, t.name])];
}

/** Whether reading `r` takes nothing but links, addresses and routes (ip alone, no shell). */
function ipOnly(r: NsReadSpec): boolean {
  return r.sysctls.length === 0 && (r.nftTables ?? []).length === 0 && !r.neighbours && !r.fdb;
}

/** The kernel reached through iproute2 and /proc. The only code that changes the system. */
export class RealKernel implements Kernel {
  readonly stats: KernelStats = { processes: 0, writes: 0 };
  private readonly log: Logger;
  private readonly concurrency: number;

  constructor(opts: RealKernelOptions) {
    this.log = opts.log;
    this.concurrency = opts.concurrency ?? 4;
  }

  async listNetns(): Promise<string[]> {
    // A namespace file a killed weft left half-made is no namespace: gone before anyone sees it.
    const cleared = await clearHalfMade();
    if (cleared.length > 0) this.log.info({ cleared }, 'removed namespace files a killed weft left half-made');
    try {
      return (await readdir('/run/netns')).sort();
    } catch {
      return [];
    }
  }

  netnsIntents(): Promise<Set<string>> {
    return readIntents();
  }

  private socketWorker: InProcessKernel | undefined;

  /**
   * The embedded DNS's sockets come from the same namespace worker as the in-process kernel's
   * (a process cannot hand a descriptor back to Node without one, and the main thread never
   * calls setns): one DNS design for both kernels, and no per-container DNAT table to keep.
   */
  openDnsSockets(path: string, address: string, port: number): Promise<NsSockets | null> {
    this.socketWorker ??= new InProcessKernel({ log: this.log });
    return this.socketWorker.openDnsSockets(path, address, port);
  }

  async readNamespaces(reqs: readonly NsReadRequest[]): Promise<Map<string, NsSnapshot | null>> {
    const cmds: NsCommand[] = reqs.map((r) => (ipOnly(r) ? { ns: r.ns, argv: IP_READ, input: IP_READ_INPUT } : { ns: r.ns, argv: ['sh', '-c', READ_SCRIPT, 'sh', ...readArgs(r)] }));
    const results = await execInNamespaces(cmds, this.concurrency, this.stats);
    return new Map(reqs.map((r, i) => [r.ns.key, this.parseRead(r, cmds[i]!, results[i]!)]));
  }

  private parseRead(req: NsReadRequest, cmd: NsCommand, res: ExecResult): NsSnapshot | null {
    if (res.code !== 0) {
      // A namespace deleted between listing and reading is simply gone.
      if (/No such file|Invalid argument|reassociate/.test(res.stderr)) return null;
      throw new KernelError(`reading namespace ${req.ns.key}`, inNamespace(req.ns.path, cmd.argv).slice(0, 4).join(' '), res.stderr);
    }
    const [json, rest = ''] = res.stdout.split(`${SEP}\n`);
    const [sys = '', nftAndFdb = ''] = rest.split(`${NFT_SEP}\n`);
    const [nftText = '', fdbText] = nftAndFdb.split(`${FDB_SEP}\n`);
    const [links, addrs, routes, neigh] = splitJsonLines(json ?? '');
    const found = new Map<string, string>();
    for (const line of sys.split('\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) found.set(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    const sysctls: Record<string, string | null> = {};
    for (const p of req.sysctls) sysctls[p] = found.get(p) ?? null;
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

  readFiles(paths: readonly string[]): Promise<Map<string, string | null>> {
    return readTextFiles(paths);
  }

  listDir(dir: string): Promise<string[]> {
    return listFolder(dir);
  }

  async run(program: KernelProgram, progress?: ProgressFn): Promise<ReadBack> {
    // Before anything runs: a refused token or target leaves the kernel untouched.
    checkBeforeRun(program);
    // What a killed weft left in $TMPDIR (its `finally` never ran) goes before this one adds any.
    await sweepDeadTemps();
    const lap = stageTimer(this.log);
    if (program.netnsDelete.length > 0) {
      // Recorded first: a kill between the unmount and the unlink leaves an empty file that the
      // next listNetns clears (clearHalfMade), not a name weft no longer recognises.
      await recordIntents(program.netnsDelete);
      await this.netnsBatch('del', program.netnsDelete);
    }
    if (program.netnsAdd.length > 0) {
      // Recorded first: a crash before the loopback is tagged leaves a namespace weft can prove is its own.
      await recordIntents(program.netnsAdd);
      await this.netnsBatch('add', program.netnsAdd);
    }
    lap('netns', program.netnsDelete.length + program.netnsAdd.length);
    await mapLimit(program.early ?? [], this.concurrency, (w) => this.runWork(w));
    await this.runWork(program.host);
    lap('host', workWrites(program.host));
    // Container namespaces go through a few shells (see execInNamespaces), not a Node child each.
    // (The daemon's nft monitor, which tells weft's nft runs by their parent, watches the host only.)
    const work = program.containers.filter((w) => workWrites(w) > 0);
    const readBack = await this.runBatched(work, (n) => progress?.(n, work.length));
    lap('containers', work.length);
    this.stats.writes += await finishProgram(program, (ns, links) => this.awaitGone(ns, links), lap);
    return readBack;
  }

  /**
   * Writes namespaces through a few shells (execInNamespaces), each namespace in one process
   * that also reads it back when `readBack` asks: ip alone where only ip operations are written
   * and only links, addresses and routes are read; sh otherwise (sysctls, forwarding entries and
   * nftables, whose JSON goes through files in a private folder). Throws the first failure.
   */
  private async runBatched(works: readonly NsWork[], onDone: (n: number) => void): Promise<ReadBack> {
    const temp = new PrivateTemp();
    try {
      const writes = await mapLimit(works, FILE_CONCURRENCY, (w) => this.writeCommand(w, temp));
      for (const w of works) logWrite(this.log, w);
      const results = await execInNamespaces(
        writes.map((x) => x.cmd),
        this.concurrency,
        this.stats,
        onDone,
      );
      for (const w of works) this.stats.writes += workWrites(w);
      const out: ReadBack = new Map();
      works.forEach((w, i) => {
        const { cmd, reads, marked } = writes[i]!;
        const res = results[i]!;
        // An ip that writes and reads stops at a failed write; a sh marks where writing ended.
        const at = marked ? res.stdout.indexOf(`${WRITTEN}\n`) : -1;
        if (res.code !== 0 && at < 0) throw writeError(w, cmd.argv, res);
        if (!reads) return;
        const read = at < 0 ? res : { ...res, stdout: res.stdout.slice(at + WRITTEN.length + 1) };
        const snap = this.parseRead({ ns: w.ns, ...reads }, cmd, read);
        if (snap) out.set(w.ns.key, snap);
      });
      return out;
    } finally {
      await temp.remove();
    }
  }

  /**
   * The command that writes `w` and what it reads back (when `w.readBack` asks); `marked` when a
   * marker line separates the writing from the reading. Files for nft and bridge go in `temp`.
   */
  private async writeCommand(w: NsWork, temp: PrivateTemp): Promise<{ cmd: NsCommand; reads?: NsReadSpec; marked?: boolean }> {
    const lines = w.ip.map(renderIpOp).join('\n');
    const fdbLines = (w.fdb ?? []).map(renderFdbOp);
    const reads = w.readBack;
    const simple = fdbLines.length === 0 && w.sysctls.length === 0 && w.nft.length === 0;
    if (simple && reads && ipOnly(reads)) return { cmd: { ns: w.ns, argv: IP_READ, input: `${lines}\n${IP_READ_INPUT}` }, reads };
    if (simple && !reads) return { cmd: { ns: w.ns, argv: ['ip', '-batch', '-'], input: lines } };
    // nft JSON and forwarding entries can exceed the 128 KiB limit of one argument: hand them over in files.
    const nftFile = w.nft.length > 0 ? await temp.file('nft', JSON.stringify({ nftables: w.nft })) : '';
    const fdbFile = fdbLines.length > 0 ? await temp.file('fdb', `${fdbLines.join('\n')}\n`) : '';
    const early = w.sysctls.filter((s) => s.early);
    const late = w.sysctls.filter((s) => !s.early);
    const writeArgs = [nftFile, fdbFile, String(early.length), String(late.length), ...[...early, ...late].flatMap((s) => [s.path, s.value])];
    if (!reads) return { cmd: { ns: w.ns, argv: ['sh', '-c', WRITE_SCRIPT, 'sh', ...writeArgs], input: lines } };
    return { cmd: { ns: w.ns, argv: ['sh', '-c', WRITE_READ_SCRIPT, 'sh', ...writeArgs, ...readArgs(reads)], input: lines }, reads, marked: true };
  }

  private async netnsBatch(verb: 'add' | 'del', names: readonly string[]): Promise<void> {
    const lines = names.map((n) => `netns ${verb} ${n}`);
    const res = await exec(['ip', '-batch', '-'], this.stats, { input: `${lines.join('\n')}\n`, timeoutMs: 300_000 });
    this.stats.writes += lines.length;
    if (res.code !== 0) {
      const line = failedBatchLine(res.stderr);
      // Adding: namespaces from the failed line on were not made, and the name may be someone
      // else's: no intent for them; those before keep theirs. Deleting: those before are gone.
      const done = line !== undefined ? line - 1 : 0;
      await dropIntents(verb === 'add' ? names.slice(done) : names.slice(0, done));
      const what = line !== undefined ? lines[line - 1] : lines.join('; ');
      throw new KernelError(`${verb === 'add' ? 'creating' : 'deleting'} namespace`, `ip ${what ?? ''}`, res.stderr);
    }
    if (verb === 'del') await dropIntents(names);
  }

  /** Writes one namespace (the host, or one that must be written before it) from a Node child of its own. */
  private async runWork(work: NsWork): Promise<void> {
    if (workWrites(work) === 0) return;
    const temp = new PrivateTemp();
    try {
      const { cmd } = await this.writeCommand(work, temp);
      logWrite(this.log, work);
      const res = await exec(inNamespace(work.ns.path, cmd.argv), this.stats, { input: cmd.input ?? '' });
      this.stats.writes += workWrites(work);
      if (res.code !== 0) throw writeError(work, cmd.argv, res);
    } finally {
      await temp.remove();
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

function logWrite(log: Logger, w: NsWork): void {
  log.debug({ ns: w.ns.key, lines: w.ip.length, fdb: (w.fdb ?? []).length, sysctls: w.sysctls.length, nft: w.nft.length }, 'writing namespace');
}


/** The error of a failed namespace write: names the operation (and its ip or bridge line) that failed. */
function writeError(work: NsWork, argv: readonly string[], res: ExecResult): KernelError {
  if (res.code === 5) return new KernelError(`loading nftables rules in namespace ${work.ns.key}`, 'nft -j -f', res.stderr);
  if (res.code === 6) {
    const m = /Command failed \S*:(\d+)/.exec(res.stderr);
    const op = m ? (work.fdb ?? [])[Number(m[1]) - 1] : undefined;
    if (op) return new KernelError(`${op.what} in namespace ${work.ns.key}`, `bridge ${renderFdbOp(op)}`, res.stderr.replace(/Command failed \S*:\d+\s*$/, ''));
    return new KernelError(`writing forwarding entries in namespace ${work.ns.key}`, 'bridge -batch', res.stderr);
  }
  const n = failedBatchLine(res.stderr);
  const op = n !== undefined ? work.ip[n - 1] : undefined;
  if (op) return new KernelError(`${op.what} in namespace ${work.ns.key}`, `ip ${renderIpOp(op)}`, res.stderr.replace(/Command failed -:\d+\s*$/, ''));
  return new KernelError(`writing namespace ${work.ns.key}`, inNamespace(work.ns.path, argv).slice(0, 4).join(' '), res.stderr);
}

/** `nft -j list table` output without its metainfo; null when the table does not exist. */
function parseNftList(text: string): unknown[] | null {
  const t = text.trim();
  if (t === '' || t === 'null') return null;
  const doc = JSON.parse(t) as { nftables?: Record<string, unknown>[] };
  return (doc.nftables ?? []).filter((o) => !('metainfo' in o));
}
