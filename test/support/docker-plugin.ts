import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './netns.js';

/** One call the test plugin received (test/support/docker-plugin.mjs writes them as JSON lines). */
export interface PluginCall {
  call: string;
  body: Record<string, unknown>;
  contentType: string;
}

/**
 * The test suite's Docker plugin as a running process: started on `socket` (inside namespace
 * `netns` when given, so its links land there), stopped by its PID. `args` are the plugin's
 * misbehaviour options (see the header of docker-plugin.mjs).
 */
export class TestPlugin {
  private constructor(readonly socket: string, readonly log: string, private child: ChildProcess) {}

  static async start(opts: { socket: string; log: string; state?: string; netns?: string; args?: readonly string[] }): Promise<TestPlugin> {
    const script = path.join(repoRoot, 'test/support/docker-plugin.mjs');
    const pluginArgs = [script, '--socket', opts.socket, '--log', opts.log, ...(opts.state ? ['--state', opts.state] : []), ...(opts.args ?? [])];
    const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns, process.execPath, ...pluginArgs] : [process.execPath, ...pluginArgs];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`test plugin did not start: ${stderr}`)), 20_000);
      child.stdout!.on('data', (b: Buffer) => {
        if (b.toString().includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`test plugin exited (${code}): ${stderr}`));
      });
    });
    return new TestPlugin(opts.socket, opts.log, child);
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Every call received so far, in order. */
  async calls(): Promise<PluginCall[]> {
    const text = await readFile(this.log, 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as PluginCall);
  }

  async callNames(): Promise<string[]> {
    return (await this.calls()).map((c) => c.call);
  }

  /** Stops the plugin by its PID (SIGTERM, then SIGKILL) and waits for it to exit. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
