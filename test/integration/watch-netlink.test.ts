import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonProc } from '../support/daemon.js';
import { reconciles, startWatch, stopDaemon } from '../support/daemon.js';
import type { TestHost } from '../support/netns.js';
import { eventually, must, repoRoot, run } from '../support/netns.js';
import { Underlay } from '../support/underlay.js';
import { networkId } from '../../src/net/ids.js';

/**
 * The daemon follows the kernel through one netlink thread (NETLINK_LISTEN_ALL_NSID: every
 * namespace on one rtnetlink and one nftables socket), with no `ip monitor` or `nft monitor`
 * process: drift of each kind weft owns (a host veth, a container's address, its default route,
 * an overlay's neighbour and forwarding entries, nftables rules) is repaired, and the daemon has
 * no child process while it does so. Observed with ip, bridge and nft, never with weft's codec.
 * Bounds are generous (a loaded machine); bench/watch-latency.mjs measures the real latency.
 */

const walkthrough = path.join(repoRoot, 'examples/walkthrough');
const multihost = path.join(repoRoot, 'examples/multihost');
const vx = `vx-${networkId('my-multi-host-network').slice(0, 12)}`;

/** Child processes of a process (every thread's), from /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const t of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const text = await readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '');
    out.push(...text.split(/\s+/).filter(Boolean).map(Number));
  }
  return out;
}

async function cmdline(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();
}

describe('weft watch: one netlink monitor, no monitor processes', () => {
  let ul: Underlay;
  let host: TestHost;
  let daemon: DaemonProc | undefined;
  /** The daemon itself: `weft watch --host-netns` runs itself again inside the namespace. */
  let inner = 0;

  beforeAll(async () => {
    ul = await Underlay.create('198.18.77');
    host = await ul.addHost(1);
    const file = async (dir: string, f: string) => (await readFile(path.join(dir, f), 'utf8')).replaceAll('192.168.77.', '198.18.77.');
    const dir = await host.manifests({
      'networks.yaml': `${await file(walkthrough, 'networks.yaml')}\n---\n${await file(multihost, 'networks.yaml')}`,
      'hosts.yaml': await file(multihost, 'hosts.yaml'),
      'containers.yaml': `${await file(walkthrough, 'containers.yaml')}\n---\n${await file(multihost, 'containers.yaml')}`,
      'web.yaml': await file(path.join(repoRoot, 'examples/published-ports'), 'web.yaml'),
    });
    daemon = startWatch(host, ['--node', 'node-1', '-f', dir, '--resync', '10m']);
    await eventually(async () => reconciles(daemon!).some((r) => r.trigger.includes('start') && r.result !== 'failed'), 60_000, 100);
    await eventually(async () => {
      const kids = await childrenOf(daemon!.pid);
      // The outer process's one child is nsenter, which became the daemon (node) by exec.
      inner = kids[0] ?? 0;
      return inner > 0 && (await cmdline(inner)).includes('watch');
    }, 10_000);
  }, 120_000);
  afterAll(async () => {
    await stopDaemon(daemon);
    await ul?.cleanup();
  });

  /** Runs `change` and waits for the repair it causes (a drift-triggered reconcile that applied). */
  async function repaired(change: () => Promise<unknown>): Promise<{ summary: string; ms: number }> {
    const from = daemon!.output().length;
    const t0 = Date.now();
    await change();
    await eventually(async () => reconciles(daemon!, from).some((r) => r.trigger.includes('drift') && r.result === 'applied'), 15_000, 20);
    return { summary: reconciles(daemon!, from).find((r) => r.result === 'applied')!.summary, ms: Date.now() - t0 };
  }

  it('the daemon runs no ip or nft monitor process (no child process at all)', async () => {
    const kids = await childrenOf(inner);
    const names = await Promise.all(kids.map(cmdline));
    expect(names.filter((n) => /\bmonitor\b/.test(n))).toEqual([]);
    expect(names).toEqual([]);
  });

  it('a host veth deleted by hand is repaired', async () => {
    const peer = JSON.parse(await must(['ip', '-n', host.netns('container3'), '-j', 'link', 'show', 'eth0'])) as { link_index: number }[];
    const links = JSON.parse(await must(['ip', '-n', host.name, '-j', 'link', 'show'])) as { ifindex: number; ifname: string }[];
    const veth = links.find((l) => l.ifindex === peer[0]!.link_index)!.ifname;
    const r = await repaired(() => must(['ip', '-n', host.name, 'link', 'del', veth]));
    expect(r.summary).toContain('+1 veth');
    expect((await host.exec('container2', ['ping', '-c1', '-W2', '172.21.0.3'])).code).toBe(0);
  });

  it("a container's address deleted by hand is repaired", async () => {
    const r = await repaired(() => must(['ip', '-n', host.netns('container1'), 'addr', 'flush', 'dev', 'eth0']));
    expect(r.summary).toContain('+1 address');
    expect(await must(['ip', '-n', host.netns('container1'), '-4', 'addr', 'show', 'dev', 'eth0'])).toContain('172.17.0.2/16');
  });

  it("a container's default route deleted by hand is repaired", async () => {
    const r = await repaired(() => must(['ip', '-n', host.netns('container1'), 'route', 'del', 'default']));
    expect(r.summary).toContain('route');
    expect(await must(['ip', '-n', host.netns('container1'), 'route', 'show', 'default'])).toMatch(/^default via 172\.17\.0\.1 dev eth0/m);
  });

  it("an overlay's neighbour entry deleted by hand is repaired", async () => {
    const before = await must(['ip', '-n', host.name, 'neigh', 'show', 'dev', vx, 'nud', 'permanent']);
    const ip = /^(\S+) lladdr/m.exec(before)?.[1];
    expect(ip).toMatch(/^10\.0\.9\.\d+$/);
    const r = await repaired(() => must(['ip', '-n', host.name, 'neigh', 'del', ip!, 'dev', vx]));
    expect(r.summary).toContain('neigh');
    expect(await must(['ip', '-n', host.name, 'neigh', 'show', 'dev', vx, 'nud', 'permanent'])).toContain(`${ip} lladdr`);
  });

  it("an overlay's forwarding (FDB) entry deleted by hand is repaired", async () => {
    const fdb = async () => (await must(['ip', 'netns', 'exec', host.name, 'bridge', 'fdb', 'show', 'dev', vx])).split('\n').filter((l) => l.includes(' self') && l.includes('dst 198.18.77.2'));
    const entry = (await fdb()).find((l) => !l.startsWith('00:00:00:00:00:00'));
    const mac = entry?.split(' ')[0];
    expect(mac).toMatch(/^[0-9a-f:]{17}$/);
    const r = await repaired(() => must(['ip', 'netns', 'exec', host.name, 'bridge', 'fdb', 'del', mac!, 'dev', vx, 'dst', '198.18.77.2', 'self']));
    expect(r.summary).toContain('fdb');
    expect((await fdb()).some((l) => l.startsWith(`${mac} `))).toBe(true);
  });

  it('nftables rules flushed by hand are repaired', async () => {
    // The same rules come back (in the order weft renders them, which may differ from before).
    const table = async () => (await must(['ip', 'netns', 'exec', host.name, 'nft', 'list', 'table', 'inet', 'weft'])).split('\n').sort().join('\n');
    const had = await table();
    expect(had).toMatch(/\bdnat\b|\baccept\b/);
    await repaired(() => must(['ip', 'netns', 'exec', host.name, 'nft', 'flush', 'table', 'inet', 'weft']));
    expect(await table()).toBe(had);
  });

  it('still no child process after the repairs', async () => {
    expect(await childrenOf(inner)).toEqual([]);
    // and the nsids of weft's namespaces were learnt in-process
    const status = await run(['ip', 'netns', 'exec', host.name, 'curl', '-s', '-m', '5', 'http://127.0.0.1:9847/status']);
    const drift = (JSON.parse(status.stdout) as { drift: { repairs: number; events: number } }).drift;
    expect(drift.repairs).toBeGreaterThanOrEqual(6);
  });
});
