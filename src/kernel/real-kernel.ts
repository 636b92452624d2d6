import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KernelError } from '../errors.js';
import type { Logger } from '../log.js';
import { exec, inNamespace, mapLimit } from './exec.js';
import { failedBatchLine, parseAddresses, parseLinks, parseRoutes, splitJsonLines } from './ip-parse.js';
import { renderIpOp } from './ip-render.js';
import type { Kernel, KernelProgram, KernelStats, NsReadRequest, NsRef, NsSnapshot, NsWork } from './types.js';

export interface RealKernelOptions {
  log: Logger;
  /** Concurrent processes when reading or writing many namespaces (2-core machines: 4 measured best). */
  concurrency?: number;
}

const SEP = '----weft-sysctls----';
const MISSING = '<missing>';

// Reads a namespace in one process: links, addresses, routes as JSON, then the sysctls asked for.
const READ_SCRIPT = `printf 'link show\\naddr show\\nroute show table all\\n' | ip -d -j -batch - || exit 3
echo '${SEP}'
for p in "$@"; do printf '%s=' "$p"; cat "/proc/sys/$p" 2>/dev/null || echo '${MISSING}'; done`;

// Writes a namespace in one process: the ip batch from stdin, then sysctls given as path/value pairs.
const WRITE_SCRIPT = `ip -batch - || exit $?
while [ $# -gt 1 ]; do printf '%s' "$2" > "/proc/sys/$1" || { echo "sysctl $1" >&2; exit 4; }; shift 2; done`;

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
    const argv = inNamespace(req.ns.path, ['sh', '-c', READ_SCRIPT, 'sh', ...req.sysctls]);
    const res = await exec(argv, this.stats);
    if (res.code !== 0) {
      // A namespace deleted between listing and reading is simply gone.
      if (/No such file|Invalid argument|reassociate/.test(res.stderr)) return null;
      throw new KernelError(`reading namespace ${req.ns.key}`, argv.join(' '), res.stderr);
    }
    const [json, sys = ''] = res.stdout.split(`${SEP}\n`);
    const [links, addrs, routes] = splitJsonLines(json ?? '');
    const sysctls: Record<string, string | null> = {};
    for (const line of sys.split('\n')) {
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      const v = line.slice(eq + 1);
      sysctls[line.slice(0, eq)] = v === MISSING ? null : v.trim();
    }
    return { links: parseLinks(links ?? []), addresses: parseAddresses(addrs ?? []), routes: parseRoutes(routes ?? []), sysctls };
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

  async run(program: KernelProgram): Promise<void> {
    if (program.netnsDelete.length > 0) await this.netnsBatch('del', program.netnsDelete);
    if (program.netnsAdd.length > 0) await this.netnsBatch('add', program.netnsAdd);
    await this.runWork(program.host);
    await mapLimit(program.containers, this.concurrency, (w) => this.runWork(w));
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
    if (work.ip.length === 0 && work.sysctls.length === 0) return;
    const lines = work.ip.map(renderIpOp);
    const pairs = work.sysctls.flatMap((s) => [s.path, s.value]);
    const argv = inNamespace(work.ns.path, ['sh', '-c', WRITE_SCRIPT, 'sh', ...pairs]);
    this.log.debug({ ns: work.ns.key, lines: lines.length, sysctls: work.sysctls.length }, 'writing namespace');
    const res = await exec(argv, this.stats, { input: lines.length > 0 ? `${lines.join('\n')}\n` : '' });
    this.stats.writes += lines.length + work.sysctls.length;
    if (res.code === 0) return;
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
