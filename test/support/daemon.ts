import type { DaemonStatus } from '../../src/reconcile/index.js';
import type { TestHost } from './netns.js';
import { killGroup, run, weftBin } from './netns.js';

/** A `weft watch` started by a test (its outer process: it relays signals to the daemon inside the host namespace). */
export interface DaemonProc {
  pid: number;
  output: () => string;
  exited: Promise<number>;
}

/** Starts `weft watch ARGS...` on a test host, logging JSON (one line per reconcile). */
export function startWatch(host: TestHost, args: readonly string[]): DaemonProc {
  return host.spawn(['node', weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, '--log-format', 'json', 'watch', ...args]);
}

/** GET a daemon URL from inside the host namespace (where it listens). */
export async function http(host: TestHost, urlPath: string, port = 9847): Promise<{ code: number; body: string }> {
  const r = await run(['ip', 'netns', 'exec', host.name, 'curl', '-s', '-m', '5', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${urlPath}`]);
  const at = r.stdout.lastIndexOf('\n');
  return { code: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) };
}

/** The daemon's /status, or undefined while it does not answer. */
export async function daemonStatus(host: TestHost): Promise<DaemonStatus | undefined> {
  const r = await http(host, '/status');
  return r.code === 200 ? (JSON.parse(r.body) as DaemonStatus) : undefined;
}

export interface ReconcileLine {
  trigger: string;
  result: string;
  summary: string;
  nsRead: number;
  nsCached: number;
  /** A drift pass: how many namespaces it read (absent for a full reconcile). */
  scoped?: number;
}

/** The daemon's reconcile log lines written after `from` (an offset into its output). */
export function reconciles(d: DaemonProc, from = 0): ReconcileLine[] {
  return d
    .output()
    .slice(from)
    .split('\n')
    .filter((l) => l.includes('"msg":"reconcile'))
    .map((l) => JSON.parse(l) as ReconcileLine);
}

/** SIGTERM, then the exit status (undefined when there was no daemon). */
export async function stopDaemon(d: DaemonProc | undefined, graceMs = 20_000): Promise<number | undefined> {
  if (!d) return undefined;
  try {
    process.kill(d.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  // A daemon that does not stop in time is killed with its process group, so no test leaks one.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<number>((resolve) => {
    timer = setTimeout(() => {
      killGroup(d.pid);
      resolve(137);
    }, graceMs);
  });
  try {
    return await Promise.race([d.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}
