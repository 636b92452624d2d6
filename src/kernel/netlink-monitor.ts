import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { FromMonitor, MonitorWorkerData } from './inproc/monitor-worker.js';
import type { KernelWatch, KernelWatchHandlers } from './monitor.js';
import type { NsRef } from './types.js';

/**
 * The in-process kernel monitor: one thread (inproc/monitor-worker.ts) with one rtnetlink and one
 * nftables netlink socket in the host namespace, listening to every namespace at once
 * (NETLINK_LISTEN_ALL_NSID). Replaces the `ip monitor` and `nft monitor` processes: no child
 * process, nftables changes inside container namespaces are seen too, and a commit names the
 * thread that made it. The thread is started again (with backoff) if it fails; the daemon then
 * resyncs, since events may have been missed.
 */
export function watchKernelNetlink(host: NsRef, handlers: KernelWatchHandlers, log: Logger): KernelWatch {
  let stopped = false;
  let current: { worker: Worker; stop: Int32Array } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const start = (attempt: number): void => {
    if (stopped) return;
    const stop = new SharedArrayBuffer(4);
    const data: MonitorWorkerData = { hostPath: host.path, stop };
    const worker = new Worker(new URL('./inproc/monitor-worker.js', import.meta.url), { workerData: data });
    const me = { worker, stop: new Int32Array(stop) };
    current = me;
    let healthy = false;
    worker.on('message', (m: FromMonitor) => {
      switch (m.kind) {
        case 'ready':
          healthy = true;
          markReady();
          if (attempt > 0) handlers.onRestart('ip');
          return;
        case 'events':
          for (const e of m.events) handlers.onEvent(e);
          return;
        case 'overrun':
          log.warn({ monitor: 'netlink' }, 'kernel events were dropped (receive buffer full); resyncing');
          handlers.onRestart('ip');
          return;
        case 'failed':
          log.warn({ monitor: 'netlink', err: m.message }, 'kernel monitor failed');
          return;
      }
    });
    worker.on('error', (err) => log.warn({ monitor: 'netlink', err: err.message }, 'kernel monitor thread failed'));
    worker.on('exit', () => {
      if (current === me) current = undefined;
      if (stopped) return;
      markReady(); // the daemon must not wait forever on a monitor that cannot start
      const next = healthy ? 0 : attempt + 1;
      const delay = Math.min(30_000, 200 * 2 ** Math.min(next, 8));
      log.warn({ monitor: 'netlink', retryMs: delay }, 'kernel monitor stopped; restarting');
      timer = setTimeout(() => start(Math.max(1, next)), delay);
    });
  };

  start(0);
  return {
    ready,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      const c = current;
      if (!c) return;
      const exited = new Promise<void>((resolve) => c.worker.once('exit', () => resolve()));
      Atomics.store(c.stop, 0, 1);
      await exited;
    },
  };
}
