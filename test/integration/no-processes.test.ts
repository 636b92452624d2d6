import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHost, repoRoot, run, weftBin } from '../support/netns.js';
import { isForeign } from '../support/foreign.js';

/**
 * The in-process kernel starts no child process: apply (cold and no-op), plan and destroy of a
 * topology with bridges, veths, addresses, routes, nftables (published ports, DNS), sysctls and
 * /etc/netns files, run under `strace -f -e trace=execve`, execute nothing but node itself.
 */
describe('no child process on the kernel paths', () => {
  let host: TestHost;
  let manifests: string;

  beforeAll(async () => {
    host = await TestHost.create('wx');
    manifests = path.join(host.dir, 'm');
    await cp(path.join(repoRoot, 'examples/walkthrough'), manifests, { recursive: true });
    await cp(path.join(repoRoot, 'examples/published-ports/web.yaml'), path.join(manifests, 'web.yaml'));
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  /** Runs weft under strace; returns its result and the programs it executed after node itself. */
  async function traced(args: readonly string[]): Promise<{ code: number; stderr: string; execs: string[] }> {
    const trace = path.join(host.dir, `trace-${args[0]}-${Date.now()}`);
    const r = await run(['strace', '-f', '-qq', '-e', 'trace=execve', '-o', trace, process.execPath, weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, ...args], { timeoutMs: 120_000 });
    const lines = (await readFile(trace, 'utf8')).split('\n').filter((l) => l.includes('execve('));
    return { code: r.code, stderr: r.stderr, execs: lines.slice(1).map((l) => /execve\("([^"]*)"/.exec(l)?.[1] ?? l) };
  }

  it('strace sees the CLI itself (the check can fail)', async () => {
    // With the process kernel the same run executes ip, nft and sh: the count is not vacuous.
    const trace = path.join(host.dir, 'trace-processes');
    const r = await run(['strace', '-f', '-qq', '-e', 'trace=execve', '-o', trace, process.execPath, weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, 'plan', '-f', manifests], {
      env: { ...process.env, WEFT_KERNEL: 'processes' },
    });
    expect(r.code).toBe(0);
    const execs = (await readFile(trace, 'utf8')).split('\n').filter((l) => l.includes('execve('));
    expect(execs.length).toBeGreaterThan(1);
  });

  it.each([
    ['apply (cold)', ['apply', '-f']],
    ['apply (no-op)', ['apply', '-f']],
    ['plan', ['plan', '-f']],
    ['destroy', ['destroy', '-f']],
  ])('%s executes no program', async (_name, args) => {
    const r = await traced([...args, manifests]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.execs).toEqual([]);
  });

  it('destroy left nothing behind', async () => {
    const ns = await run(['ip', 'netns', 'list']);
    expect(ns.stdout.split('\n').filter((l) => l.startsWith(`${host.name}-`))).toEqual([]);
    const links = JSON.parse((await run(['ip', '-n', host.name, '-j', 'link', 'show'])).stdout) as { ifname: string }[];
    expect(links.map((l) => l.ifname).filter((n) => !isForeign(n))).toEqual(['lo']);
  });
});
