import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Running and measuring commands. Every child is started in its own process group and remembered,
 * so an interrupted benchmark can end exactly the processes it started (by their ids).
 */

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** Killed at the time limit (code 124). */
  timedOut: boolean;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const live = new Set<ChildProcess>();

/** Ends every process group this benchmark started and that is still running. */
export function killAll(): void {
  for (const c of live) {
    if (c.pid === undefined) continue;
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error('run: empty command'));
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: opts.env ?? process.env });
    live.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }, opts.timeoutMs ?? 600_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      clearTimeout(timer);
      live.delete(child);
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        code: timedOut ? 124 : (code ?? 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: timedOut ? `${stderr}\n(timed out after ${opts.timeoutMs ?? 600_000} ms)` : stderr,
        wallMs,
        timedOut,
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs a command that must succeed; throws with its output otherwise. */
export async function must(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ').slice(0, 300)} failed (exit ${r.code}): ${(r.stderr + r.stdout).trim().slice(-2000)}`);
  return r;
}

/** A long-running child (the watch daemon): its own process group, ended by pid. */
export interface Background {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function startBackground(argv: readonly string[]): Background {
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  let text = '';
  child.stdout?.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    child,
    output: () => text,
    async stop() {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        const killed = await Promise.race([closed.then(() => true), sleep(5000).then(() => false)]);
        if (!killed) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
          await closed;
        }
      }
      live.delete(child);
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One measured execution: wall time, CPU time and peak RSS of the command's process tree. */
export interface Measured extends RunResult {
  /** user + system CPU of the command and every descendant it waited for (GNU time, 10 ms steps). */
  cpuMs: number;
  /** Largest peak RSS of any single process in the tree (ru_maxrss: weft's own node process). */
  maxRssKb: number;
}

let seq = 0;

/** Runs argv under GNU time (/usr/bin/time): wall from spawn to exit, CPU, peak RSS. */
export async function measure(argv: readonly string[], tmp: string, opts: RunOptions = {}): Promise<Measured> {
  const file = path.join(tmp, `time-${process.pid}-${++seq}.txt`);
  const r = await run(['/usr/bin/time', '-q', '-f', '%U %S %M', '-o', file, ...argv], opts);
  let cpuMs = Number.NaN;
  let maxRssKb = Number.NaN;
  try {
    const last = (await readFile(file, 'utf8')).trim().split('\n').at(-1) ?? '';
    const [u, s, m] = last.split(' ').map(Number);
    if (u !== undefined && s !== undefined && m !== undefined) {
      cpuMs = (u + s) * 1000;
      maxRssKb = m;
    }
  } finally {
    await rm(file, { force: true });
  }
  return { ...r, cpuMs, maxRssKb };
}

/** nft is told apart by what it did: loading a transaction (-f) or listing. */
function programKey(name: string, args: string): string {
  if (name !== 'nft') return name;
  if (/"-f"/.test(args)) return 'nft -f';
  if (/"list"/.test(args)) return 'nft list';
  return 'nft';
}

/** Programs of one name that a command ran: how many, and how long they lived in total. */
export interface ProgramStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

export interface ExecCount {
  result: RunResult;
  /** Programs executed (successful execve), the command itself excluded. */
  execs: number;
  programs: Record<string, ProgramStats>;
}

/**
 * Counts the programs a command executes by running it under `strace -f` (execve only, filtered
 * in the kernel with seccomp-bpf), with how long each lived (its last execve to its exit). Slower
 * than a plain run, so it is used in the untimed probe run only.
 */
export async function countExecs(argv: readonly string[], tmp: string, opts: RunOptions = {}): Promise<ExecCount> {
  const file = path.join(tmp, `strace-${process.pid}-${++seq}.txt`);
  const result = await run(['strace', '-f', '-q', '-ttt', '--seccomp-bpf', '-e', 'trace=execve', '-e', 'status=successful', '-o', file, '--', ...argv], opts);
  const programs: Record<string, ProgramStats> = {};
  const current = new Map<string, { name: string; at: number }>();
  let execs = -1;
  const close = (pid: string, at: number) => {
    const c = current.get(pid);
    if (!c) return;
    current.delete(pid);
    const p = (programs[c.name] ??= { count: 0, totalMs: 0, maxMs: 0 });
    const ms = (at - c.at) * 1000;
    p.totalMs += ms;
    p.maxMs = Math.max(p.maxMs, ms);
  };
  try {
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      const m = /^(\d+)\s+([\d.]+)\s+(?:execve\("([^"]+)", \[([^\]]*)|(\+\+\+ (?:exited|killed)))/.exec(line);
      if (!m) continue;
      const [, pid = '', t = '0', prog, args = '', exited] = m;
      const at = Number(t);
      if (exited) {
        close(pid, at);
        continue;
      }
      execs++;
      if (execs === 0) continue;
      const name = programKey(path.basename(prog ?? '?'), args);
      // nsenter and sh exec their command in the same process: each counts as a program, and the
      // process's lifetime is charged to the last one.
      const prev = current.get(pid);
      current.set(pid, { name, at: prev?.at ?? at });
      (programs[name] ??= { count: 0, totalMs: 0, maxMs: 0 }).count++;
    }
  } finally {
    await rm(file, { force: true });
  }
  return { result, execs: Math.max(execs, 0), programs };
}
