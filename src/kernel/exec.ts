import { spawn } from 'node:child_process';
import { checkNsPath } from './guard.js';
import type { KernelStats } from './types.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
}

/**
 * Runs a command without a shell and collects its output. Never throws for a non-zero exit:
 * callers decide what a failure means. Counts processes in `stats`.
 */
export function exec(argv: readonly string[], stats: KernelStats, opts: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error('exec: empty command'));
  stats.processes++;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000 });
    if (child.pid !== undefined) rememberChild(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: signal ? `${stderr}killed by ${signal}` : stderr,
      });
    });
    child.stdin.on('error', () => {
      /* the command may exit before reading its input; its exit status tells the story */
    });
    child.stdin.end(opts.input ?? '');
  });
}

// The pids of the last commands weft ran: `nft monitor` names the process behind each change,
// and the watch daemon ignores changes made by its own commands.
const recentChildren: number[] = [];
const RECENT_LIMIT = 512;

function rememberChild(pid: number): void {
  recentChildren.push(pid);
  if (recentChildren.length > RECENT_LIMIT) recentChildren.splice(0, recentChildren.length - RECENT_LIMIT);
}

/** Whether pid is one of the last commands this process ran through exec(). */
export function isOwnChild(pid: number): boolean {
  return recentChildren.includes(pid);
}

/**
 * The argv that runs a command inside a namespace. `nsenter --net` only switches the network
 * namespace: unlike `ip -n` / `ip netns exec` it copies no mount table, so it stays fast with
 * thousands of namespaces.
 */
export function inNamespace(path: string | null, argv: readonly string[]): string[] {
  checkNsPath('namespace path', path);
  return path === null ? [...argv] : ['nsenter', `--net=${path}`, ...argv];
}

/** Runs async jobs with at most `limit` in flight, preserving result order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
