import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { INTENT_DIR } from '../../src/kernel/netns-intents.js';
import { dumpForeign, plantForeign } from './foreign.js';

/**
 * Throwaway "hosts" for integration tests: a network namespace that weft treats as the host
 * (--host-netns), and helpers to run the built CLI and real traffic inside it. Everything a test
 * creates carries the host's unique name as a prefix, and cleanup() removes all of it, also after
 * a failure. Nothing here touches the machine's own namespace.
 */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const weftBin = path.join(repoRoot, 'dist/cli/main.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(argv: readonly string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => undefined); // the command may exit without reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** Throws with the command's output when it fails: for set-up steps that must work. */
export async function must(argv: readonly string[], opts: { input?: string } = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('integration tests need root (they create network namespaces); run them with sudo');
}

export class TestHost {
  readonly dir: string;
  readonly stateDir: string;
  private readonly pids = new Set<number>();
  /** The foreign neighbours as planted (when planted): cleanup() checks they are unchanged. */
  private foreignBefore: string | undefined;

  private constructor(readonly name: string, dir: string) {
    this.dir = dir;
    this.stateDir = path.join(dir, 'state');
  }

  /**
   * Creates a host namespace with loopback up and a resolv.conf of its own. Unless `foreign` is
   * false (or WEFT_TEST_FOREIGN=0 in the environment), it also holds objects weft did not make
   * (test/support/foreign.ts), and cleanup() fails the test if any of them changed: every
   * integration test runs beside foreign neighbours (issue 16).
   */
  static async create(prefix = 'wt', opts: { foreign?: boolean } = {}): Promise<TestHost> {
    requireRoot();
    const name = `${prefix}${randomBytes(3).toString('hex')}`;
    const dir = await mkdtemp(path.join(tmpdir(), `weft-${name}-`));
    const host = new TestHost(name, dir);
    await must(['ip', 'netns', 'add', name]);
    await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    await mkdir(`/etc/netns/${name}`, { recursive: true });
    await writeFile(`/etc/netns/${name}/resolv.conf`, 'nameserver 198.18.0.53\nsearch example.test\n');
    if (opts.foreign ?? process.env['WEFT_TEST_FOREIGN'] !== '0') {
      try {
        await plantForeign(name);
        host.foreignBefore = JSON.stringify(await dumpForeign(name), null, 1);
      } catch (err) {
        await host.cleanup();
        throw err;
      }
    }
    return host;
  }

  /** Throws, showing both dumps, when a foreign neighbour is not exactly as planted. */
  async checkForeign(): Promise<void> {
    if (this.foreignBefore === undefined) return;
    const now = JSON.stringify(await dumpForeign(this.name), null, 1);
    if (now !== this.foreignBefore) throw new Error(`foreign objects in host ${this.name} changed:\n${lineDiff(this.foreignBefore, now)}\nafter: ${now}`);
  }

  /** Writes manifest files into a fresh folder and returns its path. */
  async manifests(files: Record<string, string>, sub = 'manifests'): Promise<string> {
    const d = path.join(this.dir, sub);
    await rm(d, { recursive: true, force: true });
    await mkdir(d, { recursive: true });
    for (const [f, text] of Object.entries(files)) await writeFile(path.join(d, f), text);
    return d;
  }

  /** Runs the built weft CLI against this host. */
  weft(args: readonly string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    const env = opts.env ? { ...process.env, ...opts.env } : undefined;
    return run(['node', weftBin, '--host-netns', this.name, '--state-dir', this.stateDir, ...args], { ...opts, ...(env ? { env } : {}) });
  }

  /** Runs a command in a container's namespace (through weft exec, as a user would). */
  exec(container: string, argv: readonly string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    return this.weft(['exec', container, '--', ...argv], opts);
  }

  /** Runs a command in the host namespace. */
  sh(argv: readonly string[], opts: { input?: string } = {}): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', this.name, ...argv], opts);
  }

  /** The namespace name weft gives a container on this host. */
  netns(container: string): string {
    return `${this.name}-${container}`;
  }

  /** Starts a long-running process (server, daemon); cleanup() ends it by PID. */
  spawn(argv: readonly string[]): { pid: number; output: () => string; exited: Promise<number> } {
    const [cmd, ...args] = argv;
    // A process group of its own, so cleanup also ends what it started (weft watch re-executes
    // itself inside the host namespace: the daemon is a child of this process).
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    if (child.pid) this.pids.add(child.pid);
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    return { pid: child.pid ?? -1, output: () => out, exited };
  }

  /** Removes every namespace, /etc/netns folder, process and file this host made. */
  async cleanup(): Promise<void> {
    for (const pid of this.pids) killGroup(pid);
    // Checked before anything is removed; reported after, so a failure still cleans up.
    const foreign = await this.checkForeign().then(() => undefined, (err: unknown) => err);
    const names = (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n === this.name || n.startsWith(`${this.name}-`));
    // Containers first, the host last (its veths go with the container namespaces).
    for (const n of names.sort((a, b) => b.length - a.length)) await run(['ip', 'netns', 'del', n]);
    const etc = (await readdir('/etc/netns').catch(() => [] as string[])).filter((n) => n === this.name || n.startsWith(`${this.name}-`));
    for (const d of etc) await rm(`/etc/netns/${d}`, { recursive: true, force: true });
    await rmdir('/etc/netns').catch(() => undefined);
    // weft's namespace intents (a test that killed weft mid-apply can leave some).
    const intents = (await readdir(INTENT_DIR).catch(() => [] as string[])).filter((n) => n === this.name || n.startsWith(`${this.name}-`));
    for (const f of intents) await rm(path.join(INTENT_DIR, f), { force: true });
    await rm(this.dir, { recursive: true, force: true });
    if (foreign) throw foreign;
  }
}

/** The lines only one of two texts has, marked - (before) and + (after). */
function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  return [...a.filter((l) => !b.includes(l)).map((l) => `- ${l}`), ...b.filter((l) => !a.includes(l)).map((l) => `+ ${l}`)].join('\n');
}

/** SIGKILL to a process started by TestHost.spawn and everything in its process group. */
export function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Polls until fn returns true (or throws after timeoutMs). */
export async function eventually(fn: () => Promise<boolean>, timeoutMs = 5000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
