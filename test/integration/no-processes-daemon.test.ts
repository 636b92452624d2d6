import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonProc } from '../support/daemon.js';
import { reconciles, startWatch, stopDaemon } from '../support/daemon.js';
import { TestHost, eventually, must, repoRoot } from '../support/netns.js';

/**
 * A daemon's repair starts no process (issue 12 item 8): strace, attached to the running daemon
 * (every thread, and any child they would make), sees no execve and no fork/clone of a process
 * while a veth deleted by hand is repaired. The same check on a daemon with the process kernel
 * (WEFT_KERNEL=processes) sees its ip and nft runs: it can fail.
 */

const walkthrough = path.join(repoRoot, 'examples/walkthrough');

async function threads(pid: number): Promise<string[]> {
  return readdir(`/proc/${pid}/task`).catch(() => []);
}

/** Whether every thread of `pid` is traced (strace attaches one by one). */
async function allTraced(pid: number): Promise<boolean> {
  for (const t of await threads(pid)) {
    const status = await readFile(`/proc/${pid}/task/${t}/status`, 'utf8').catch(() => '');
    if (/^TracerPid:\s+0$/m.test(status)) return false;
  }
  return true;
}

describe.each([
  ['in-process kernel', undefined, 0],
  ['process kernel (the check can fail)', 'processes', 1],
] as const)('a daemon repair with the %s', (_name, kernel, minSpawns) => {
  let host: TestHost;
  let daemon: DaemonProc | undefined;
  let inner = 0;

  beforeAll(async () => {
    host = await TestHost.create('wz');
    const dir = await host.manifests({
      'networks.yaml': await readFile(path.join(walkthrough, 'networks.yaml'), 'utf8'),
      'containers.yaml': await readFile(path.join(walkthrough, 'containers.yaml'), 'utf8'),
    });
    const saved = process.env['WEFT_KERNEL'];
    if (kernel) process.env['WEFT_KERNEL'] = kernel;
    try {
      daemon = startWatch(host, ['-f', dir, '--resync', '10m', '--no-dns']);
    } finally {
      if (saved === undefined) delete process.env['WEFT_KERNEL'];
      else process.env['WEFT_KERNEL'] = saved;
    }
    await eventually(async () => reconciles(daemon!).some((r) => r.trigger.includes('start') && r.result !== 'failed'), 60_000, 100);
    // `weft watch --host-netns` runs itself again inside the namespace (nsenter, then node): that one repairs.
    const kids = (await readFile(`/proc/${daemon!.pid}/task/${daemon!.pid}/children`, 'utf8')).split(/\s+/).filter(Boolean).map(Number);
    inner = kids[0] ?? 0;
    expect((await readFile(`/proc/${inner}/cmdline`, 'utf8')).split('\0')).toContain('watch');
  }, 120_000);
  afterAll(async () => {
    await stopDaemon(daemon);
    await host?.cleanup();
  });

  it(`strace sees ${minSpawns === 0 ? 'no' : 'its'} process spawns while a deleted veth is repaired`, async () => {
    const trace = path.join(host.dir, `trace-${kernel ?? 'inproc'}`);
    const strace = host.spawn(['strace', '-f', '-qq', '-e', 'trace=execve,execveat,fork,vfork,clone,clone3', '-o', trace, '-p', String(inner)]);
    await eventually(() => allTraced(inner), 15_000, 50);
    const peer = JSON.parse(await must(['ip', '-n', host.netns('container3'), '-j', 'link', 'show', 'eth0'])) as { link_index: number }[];
    const links = JSON.parse(await must(['ip', '-n', host.name, '-j', 'link', 'show'])) as { ifindex: number; ifname: string }[];
    const veth = links.find((l) => l.ifindex === peer[0]!.link_index)!.ifname;
    const from = daemon!.output().length;
    await must(['ip', '-n', host.name, 'link', 'del', veth]);
    // Every system call of every thread stops under strace (-p cannot use --seccomp-bpf): slow on a loaded machine.
    await eventually(async () => reconciles(daemon!, from).some((r) => r.trigger.includes('drift') && r.result === 'applied'), 150_000, 50);
    expect(reconciles(daemon!, from).find((r) => r.result === 'applied')!.summary).toContain('+1 veth');
    process.kill(strace.pid, 'SIGINT');
    await strace.exited;
    const lines = (await readFile(trace, 'utf8')).split('\n');
    // New threads (CLONE_THREAD) are not processes; anything else that clones, forks or executes is.
    const spawns = lines.filter((l) => /\b(execve|execveat|fork|vfork)\(/.test(l) || (/\bclone3?\(/.test(l) && !l.includes('CLONE_THREAD')));
    if (minSpawns === 0) expect(spawns).toEqual([]);
    else expect(spawns.length).toBeGreaterThanOrEqual(minSpawns);
  }, 240_000);
});
