import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonProc } from '../support/daemon.js';
import { daemonStatus as status, startWatch, stopDaemon } from '../support/daemon.js';
import { TestHost, eventually, repoRoot, run } from '../support/netns.js';

/**
 * The embedded DNS's sockets follow the containers while the daemon runs: a container added to
 * the manifests gets a UDP and a TCP socket on 127.0.0.11:53 inside its namespace, owned by the
 * daemon; a container pruned away loses them, its namespace is really destroyed (an open socket
 * would keep it, and its veth, alive) and the daemon's descriptors return to their count before.
 */

const examples = path.join(repoRoot, 'examples/walkthrough');
const late = 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: late}\nspec: {networks: {isolated_nw: {ipv4Address: 172.21.0.55}}}\n';

describe('weft watch: DNS sockets per container namespace', () => {
  let host: TestHost;
  let daemon: DaemonProc | undefined;
  let dir: string;
  let pid = 0;

  /** The daemon's open sockets (the process inside the host namespace, from its /status). */
  const sockets = async () => {
    const fds = await readdir(`/proc/${pid}/fd`);
    const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
    return links.filter((l) => l.startsWith('socket:')).length;
  };
  const inNs = async (ns: string, argv: string[]) => (await run(['ip', 'netns', 'exec', ns, ...argv])).stdout;
  const dig = async (ctr: string, args: string[]) => (await host.exec(ctr, ['dig', '+short', '+time=2', '+tries=1', ...args])).stdout.trim();

  beforeAll(async () => {
    host = await TestHost.create('ds');
    dir = await host.manifests({
      'networks.yaml': await readFile(path.join(examples, 'networks.yaml'), 'utf8'),
      'containers.yaml': await readFile(path.join(examples, 'containers.yaml'), 'utf8'),
    });
    daemon = startWatch(host, ['-f', dir, '--prune', '--resync', '10m']);
    await eventually(async () => (await status(host))?.ready === true, 30_000);
    pid = (await status(host))!.pid;
    await eventually(async () => (await dig('container3', ['container2'])) === '172.21.0.2', 15_000, 200);
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await host?.cleanup();
  });

  it('a container created while the daemon runs gets its sockets; deleted, it loses them and its namespace goes', async () => {
    const before = await sockets();
    await writeFile(path.join(dir, 'late.yaml'), late);
    const ns = host.netns('late');
    await eventually(async () => (await dig('late', ['container3'])) === '172.21.0.3', 30_000, 250);
    // Answered over UDP and TCP by the daemon's sockets inside the new namespace.
    expect(await dig('late', ['+tcp', 'container2'])).toBe('172.21.0.2');
    const udp = await inNs(ns, ['ss', '-H', '-lnup']);
    const tcp = await inNs(ns, ['ss', '-H', '-lntp']);
    expect(udp).toMatch(new RegExp(`127\\.0\\.0\\.11:53\\b.*pid=${pid},`));
    expect(tcp).toMatch(new RegExp(`127\\.0\\.0\\.11:53\\b.*pid=${pid},`));
    expect(await sockets()).toBeGreaterThanOrEqual(before + 2);

    // Pruned: the namespace is destroyed (its veth's host end disappears with it) and the
    // daemon holds no more descriptors than before the container came.
    const links = async () => (await run(['ip', '-n', host.name, '-o', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes('veth')).length;
    const withLate = await links();
    await run(['rm', path.join(dir, 'late.yaml')]);
    await eventually(async () => !(await run(['ip', 'netns', 'list'])).stdout.includes(ns), 30_000, 250);
    await eventually(async () => (await links()) === withLate - 1, 15_000, 100);
    await eventually(async () => (await sockets()) === before, 15_000, 100);
    expect(await dig('container3', ['container2'])).toBe('172.21.0.2');
  }, 120_000);
});
