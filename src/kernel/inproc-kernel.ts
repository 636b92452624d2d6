import { Worker } from 'node:worker_threads';
import { InternalError, KernelError } from '../errors.js';
import type { Logger } from '../log.js';
import { clearHalfMade, dropIntents, readIntents, recordIntents } from './netns-intents.js';
import { checkBeforeRun, finishProgram, listFolder, readTextFiles, stageTimer } from './program-io.js';
import type { FromWorker, Job, JobError, JobResult } from './inproc/protocol.js';
import type { Kernel, KernelProgram, KernelStats, NsReadRequest, NsRef, NsSnapshot, NsSockets, NsWork, ProgressFn, ReadBack } from './types.js';
import { workWrites } from './types.js';

export interface InProcessKernelOptions {
  log: Logger;
}

/**
 * How long `awaitGone` waits without any of the links vanishing before it deletes the rest itself
 * (their namespace is kept alive by something else): the kernel destroys a deleted namespace's
 * devices within milliseconds, under heavy load within a second or two.
 */
const GONE_QUIET_MS = 2000;

interface Pending {
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
  progress?: (n: number) => void;
}

/**
 * The kernel reached in-process, with no child process: rtnetlink and libnftables on a worker
 * thread that enters each namespace (src/kernel/inproc/ns-worker.ts), /etc/netns through fs.
 * The worker is started on first use and does not keep the process alive when idle.
 */
export class InProcessKernel implements Kernel {
  readonly stats: KernelStats = { processes: 0, writes: 0 };
  private readonly log: Logger;
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(opts: InProcessKernelOptions) {
    this.log = opts.log;
  }

  private call(job: Job, progress?: (n: number) => void): Promise<JobResult> {
    const w = this.start();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(progress ? { progress } : {}) });
      if (this.pending.size === 1) w.ref();
      w.postMessage({ id, job });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./inproc/ns-worker.js', import.meta.url));
    w.unref();
    w.on('message', (m: FromWorker) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if ('progress' in m) {
        p.progress?.(m.progress);
        return;
      }
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.error) p.reject(toError(m.error));
      else if (m.result) p.resolve(m.result);
    });
    const fail = (e: Error) => {
      this.worker = undefined;
      for (const p of this.pending.values()) p.reject(new InternalError(`the namespace worker stopped: ${e.message}`, { cause: e }));
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exit ${code}`)));
    this.worker = w;
    return w;
  }

  /** Stops the worker (its sockets and nftables contexts close with it). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  async listNetns(): Promise<string[]> {
    // A namespace file a killed weft left half-made (created, never mounted) is no namespace:
    // gone before anyone sees it (the worker makes namespaces the way `ip netns add` does).
    const cleared = await clearHalfMade();
    if (cleared.length > 0) this.log.info({ cleared }, 'removed namespace files a killed weft left half-made');
    const r = await this.call({ kind: 'list-netns' });
    return r.kind === 'list-netns' ? r.names : [];
  }

  async readNamespaces(reqs: readonly NsReadRequest[]): Promise<Map<string, NsSnapshot | null>> {
    if (reqs.length === 0) return new Map();
    const r = await this.call({ kind: 'read', reqs: [...reqs] });
    if (r.kind !== 'read') throw new InternalError('namespace worker: wrong reply to read');
    return new Map(reqs.map((q, i) => [q.ns.key, r.snapshots[i] ?? null]));
  }

  readFiles(paths: readonly string[]): Promise<Map<string, string | null>> {
    return readTextFiles(paths);
  }

  listDir(dir: string): Promise<string[]> {
    return listFolder(dir);
  }

  async run(program: KernelProgram, progress?: ProgressFn): Promise<ReadBack> {
    const lap = stageTimer(this.log);
    // Before anything runs: a refused token or target leaves the kernel untouched.
    checkBeforeRun(program);
    if (program.netnsDelete.length > 0) {
      // Recorded first: a kill between the unmount and the unlink leaves an empty file that the
      // next listNetns clears (clearHalfMade), not a name weft no longer recognises.
      await recordIntents(program.netnsDelete);
      await this.call({ kind: 'netns-del', names: program.netnsDelete });
      await dropIntents(program.netnsDelete);
    }
    if (program.netnsAdd.length > 0) await this.addNetns(program.netnsAdd);
    this.stats.writes += program.netnsDelete.length + program.netnsAdd.length;
    lap('netns', program.netnsDelete.length + program.netnsAdd.length);
    await this.write(program.early ?? []);
    await this.write([program.host]);
    lap('host', workWrites(program.host));
    const work = program.containers.filter((w) => workWrites(w) > 0);
    const readBack = await this.write(work, (n) => progress?.(n, work.length));
    if (work.length > 0) progress?.(work.length, work.length);
    lap('containers', work.length);
    this.stats.writes += await finishProgram(program, (ns, links) => this.awaitGone(ns, links), lap);
    return readBack;
  }

  netnsIntents(): Promise<Set<string>> {
    return readIntents();
  }

  async openDnsSockets(path: string, address: string, port: number): Promise<NsSockets | null> {
    const r = await this.call({ kind: 'dns-sockets', path, address, port });
    if (r.kind !== 'dns-sockets') throw new InternalError('namespace worker: wrong reply to dns-sockets');
    return r.sockets;
  }

  /**
   * Creates namespaces, each recorded first as weft's intent: a crash before its loopback is
   * tagged leaves a namespace weft can prove is its own. On a failure, the names from the failed
   * one on lose their intent (the name may be someone else's); those made keep theirs.
   */
  private async addNetns(names: readonly string[]): Promise<void> {
    await recordIntents(names);
    const r = await this.call({ kind: 'netns-add', names: [...names] });
    if (r.kind !== 'netns-add') throw new InternalError('namespace worker: wrong reply to netns-add');
    if (r.error) {
      await dropIntents(names.slice(r.created));
      throw toError(r.error);
    }
  }

  /** Writes namespaces on the worker; throws the first failure after all were tried. */
  private async write(works: readonly NsWork[], onDone?: (n: number) => void): Promise<ReadBack> {
    const todo = works.filter((w) => workWrites(w) > 0);
    if (todo.length === 0) return new Map();
    for (const w of todo) this.log.debug({ ns: w.ns.key, ip: w.ip.length, fdb: (w.fdb ?? []).length, sysctls: w.sysctls.length, nft: w.nft.length }, 'writing namespace');
    const r = await this.call({ kind: 'write', works: todo }, onDone);
    if (r.kind !== 'write') throw new InternalError('namespace worker: wrong reply to write');
    this.stats.writes += r.writes;
    if (r.error) throw toError(r.error);
    return new Map(r.readBack);
  }

  /**
   * Deleting a namespace destroys its veths asynchronously: the worker waits for the host ends'
   * RTM_DELLINK (subscribed before it lists, so none is missed) and deletes those whose namespace
   * lives on. One it cannot delete is left to the reconcile's verify pass, which reports it.
   */
  private async awaitGone(ns: NsRef, links: readonly string[]): Promise<void> {
    const r = await this.call({ kind: 'await-gone', path: ns.path, links: [...links], quietMs: GONE_QUIET_MS });
    if (r.kind === 'await-gone' && r.remaining.length > 0) this.log.warn({ ns: ns.key, links: r.remaining }, 'links of deleted namespaces could not be deleted');
  }

  /**
   * nsid -> name of the namespaces under /run/netns, as the namespace at `host` numbers them (the
   * ids its kernel monitor reports events with). With `names`, only those, each given an id if it
   * has none.
   */
  async nsIds(host: string | null, names?: readonly string[]): Promise<Map<number, string>> {
    const r = await this.call({ kind: 'ns-ids', host, ...(names ? { names: [...names] } : {}) });
    return new Map(r.kind === 'ns-ids' ? r.ids : []);
  }
}

function toError(e: JobError): Error {
  return e.internal ? new InternalError(`${e.message}${e.stderr ? `: ${e.stderr}` : ''}`) : new KernelError(e.message, e.command, e.stderr);
}
