import { parentPort } from 'node:worker_threads';
import { InternalError } from '../../errors.js';
import type { NsSnapshot } from '../types.js';
import { workWrites } from '../types.js';
import { NsEngine, WorkError } from './ns-engine.js';
import type { FromWorker, Job, JobError, JobResult, ToWorker } from './protocol.js';

/**
 * The namespace worker: the only thread of weft that enters other network namespaces. It runs
 * one job at a time, synchronously, and answers with typed results; the main thread (HTTP, DNS,
 * timers) never leaves its namespace and never blocks on the kernel.
 */

const port = parentPort;
if (!port) throw new Error('ns-worker: not started as a worker thread');

const engine = new NsEngine();
const post = (m: FromWorker) => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  try {
    post({ id: m.id, result: run(m.id, m.job) });
  } catch (e) {
    post({ id: m.id, error: toJobError(e) });
  } finally {
    engine.closePending();
  }
});

function run(id: number, job: Job): JobResult {
  switch (job.kind) {
    case 'list-netns':
      return { kind: 'list-netns', names: engine.listNetns() };
    case 'read':
      return { kind: 'read', snapshots: job.reqs.map((r) => engine.read(r.ns.path, r)) };
    case 'netns-add': {
      // One at a time, so a failure says how many exist: the caller keeps intents for those only.
      let created = 0;
      try {
        for (const name of job.names) created += engine.addNetns([name]);
      } catch (e) {
        return { kind: 'netns-add', created, error: toJobError(e) };
      }
      return { kind: 'netns-add', created };
    }
    case 'netns-del':
      engine.delNetns(job.names);
      return { kind: 'done' };
    case 'ns-ids':
      return { kind: 'ns-ids', ids: engine.nsIds(job.host, job.names) };
    case 'await-gone':
      return { kind: 'await-gone', remaining: engine.awaitGone(job.path, job.links, job.quietMs) };
    // -- embedded DNS sockets --
    case 'dns-sockets':
      return { kind: 'dns-sockets', sockets: engine.openSockets(job.path, job.address, job.port) };
    case 'write': {
      // Every namespace is written, also after another one failed; the first failure is reported.
      const readBack: [string, NsSnapshot][] = [];
      let writes = 0;
      let error: JobError | undefined;
      let done = 0;
      for (const w of job.works) {
        try {
          const snap = engine.write(w);
          writes += workWrites(w);
          if (snap) readBack.push([w.ns.key, snap]);
        } catch (e) {
          error ??= toJobError(e);
        } finally {
          engine.closePending();
        }
        if (++done % 25 === 0) post({ id, progress: done });
      }
      return { kind: 'write', readBack, writes, ...(error ? { error } : {}) };
    }
  }
}

function toJobError(e: unknown): JobError {
  if (e instanceof WorkError) return e.job;
  if (e instanceof InternalError) return { internal: true, message: e.message, command: '', stderr: '' };
  const err = e instanceof Error ? e : new Error(String(e));
  return { internal: true, message: `namespace worker: ${err.stack ?? err.message}`, command: '', stderr: '' };
}
