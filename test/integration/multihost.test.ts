import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkId } from '../../src/net/ids.js';
import type { TestHost } from '../support/netns.js';
import { eventually, repoRoot, run, weftBin } from '../support/netns.js';
import { Underlay, endpointOn, weftOn } from '../support/underlay.js';

/**
 * Three simulated hosts joined by an underlay switch, each its own TestHost running weft with
 * --host-netns and --node; the seed's my-multi-host-network (10.0.9.0/24) across them, with real
 * traffic over VXLAN.
 */
describe('multi-host overlay (three hosts on an underlay)', () => {
  let ul: Underlay;
  let h1: TestHost;
  let h2: TestHost;
  let h3: TestHost;
  const examples = path.join(repoRoot, 'examples/multihost');
  const vx = `vx-${networkId('my-multi-host-network').slice(0, 12)}`;
  let files: Record<string, string>;
  let store = '';
  let web1 = { ip: '', mac: '' };
  let web2 = { ip: '', mac: '' };
  /** node-1's `weft dns --store`. */
  let dns1: ReturnType<TestHost['spawn']> | undefined;

  const host3 = 'apiVersion: weft/v1\nkind: Host\nmetadata: {name: node-3}\nspec: {address: 192.168.77.3}\n---\n';
  const ctr = (name: string, node: string) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec: {host: ${node}, networks: [my-multi-host-network]}\n---\n`;
  const ping = async (h: TestHost, from: string, to: string) => (await h.exec(from, ['ping', '-c1', '-W1', to])).code === 0;
  // The VXLAN device's own entries (the bridge's learnt ones, "master ov-...", age out by themselves).
  const fdb = async (h: TestHost) => (await run(['ip', 'netns', 'exec', h.name, 'bridge', 'fdb', 'show', 'dev', vx])).stdout.split('\n').filter((l) => l.includes(' self')).join('\n');
  const neigh = async (h: TestHost) => (await run(['ip', '-n', h.name, 'neigh', 'show', 'dev', vx])).stdout;
  /** A container's overlay address and MAC, from `weft network inspect` on the host that runs it. */
  const addrOf = (h: TestHost, name: string) => endpointOn(h, 'my-multi-host-network', name);
  const re = (text: string) => text.replace(/\./g, '\\.');
  const applyAll = async (dir: string, hosts: [TestHost, string][], extra: string[] = []) => {
    for (const [h, node] of hosts) {
      const r = await h.weft(['--node', node, 'apply', '-f', dir, ...extra]);
      expect(r.stderr).not.toMatch(/weft: (?!.*(applied|converged))/);
      expect(r.code).toBe(0);
    }
  };

  beforeAll(async () => {
    ul = await Underlay.create();
    h1 = await ul.addHost(1);
    h2 = await ul.addHost(2);
    h3 = await ul.addHost(3);
    // A lease long enough for node-1 to apply and its DNS server to read the store on a busy
    // machine (10 s was not, with other integration files running), short enough to wait out.
    store = await ul.startEtcd(20);
    files = Object.fromEntries(
      await Promise.all(['hosts.yaml', 'networks.yaml', 'containers.yaml'].map(async (f) => [f, await readFile(path.join(examples, f), 'utf8')] as const)),
    );
  });
  afterAll(async () => {
    await ul?.cleanup();
  });

  it('applies the two-host example: node-1 by --node, node-2 found from its own address', async () => {
    const r1 = await h1.weft(['--node', 'node-1', 'apply', '--detail', '-f', examples]);
    expect(r1.code).toBe(0);
    expect(r1.stdout).toMatch(new RegExp(`^\\+ vxlan ${vx} network my-multi-host-network$`, 'm'));
    const r2 = await h2.weft(['apply', '-f', examples]);
    expect(r2.code).toBe(0);
    // node-1 programmed web2 with the address and MAC node-2 gave it, from the manifests alone.
    web1 = await addrOf(h1, 'web1');
    web2 = await addrOf(h2, 'web2');
    expect(web2.ip).toMatch(/^10\.0\.9\.\d+$/);
    expect(r1.stdout).toMatch(new RegExp(`^\\+ fdb ${web2.mac} dst 192\\.168\\.77\\.2 on ${vx} network my-multi-host-network$`, 'm'));
    expect(r1.stdout).toMatch(new RegExp(`^\\+ neigh ${re(web2.ip)} lladdr ${web2.mac} on ${vx} network my-multi-host-network$`, 'm'));
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(h1.netns('web2'));
    expect((await run(['ip', 'netns', 'list'])).stdout).toContain(h2.netns('web2'));
  });

  it('containers on different hosts ping each other by address, over VXLAN on UDP 4789', async () => {
    // What crosses the underlay: VXLAN only, no ARP (the VXLAN devices answer it from their entries).
    const dump = ul.sw.spawn(['ip', 'netns', 'exec', ul.sw.name, 'tcpdump', '-nli', 'sw0', '-c', '4', 'udp port 4789']);
    await eventually(async () => dump.output().includes('listening'), 5000);
    expect(await ping(h1, 'web1', web2.ip)).toBe(true);
    expect(await ping(h2, 'web2', web1.ip)).toBe(true);
    await Promise.race([dump.exited, new Promise((r) => setTimeout(r, 3000))]);
    const packets = dump.output().split('\n').filter((l) => /^\d\d:/.test(l));
    expect(packets.length).toBe(4);
    for (const p of packets) expect(p).toMatch(/IP 192\.168\.77\.[12]\.\d+ > 192\.168\.77\.[12]\.4789: VXLAN, flags \[I\] \(0x08\), vni \d+/);
    expect(dump.output()).toContain(`${web1.ip} > ${web2.ip}: ICMP echo request`);
    expect(dump.output()).not.toMatch(/ARP/);
    // Static programming: the remote MAC and IP, and one broadcast entry per peer; no learning.
    expect(await fdb(h1)).toContain(`${web2.mac} dst 192.168.77.2 self permanent`);
    expect(await fdb(h1)).toContain('00:00:00:00:00:00 dst 192.168.77.2 self permanent');
    expect(await neigh(h1)).toContain(`${web2.ip} lladdr ${web2.mac} PERMANENT`);
    const link = JSON.parse((await run(['ip', '-n', h1.name, '-d', '-j', 'link', 'show', vx])).stdout) as { mtu: number; linkinfo: { info_data: Record<string, unknown> } }[];
    expect(link[0]?.mtu).toBe(1450);
    expect(link[0]?.linkinfo.info_data).toMatchObject({ local: '192.168.77.1', port: 4789, learning: false, proxy: true });
  });

  it('containers resolve containers on other hosts by name (embedded DNS)', async () => {
    // Each node runs its embedded DNS server; the names come from the whole topology, remote
    // containers of the overlay included, and queries reach it through docker_gwbridge.
    dns1 = h1.spawn(['node', weftBin, '--host-netns', h1.name, '--state-dir', h1.stateDir, '--node', 'node-1', '--store', store, 'dns', '-f', examples]);
    h2.spawn(['node', weftBin, '--host-netns', h2.name, '--state-dir', h2.stateDir, '--node', 'node-2', 'dns', '-f', examples]);
    const resolve = async (h: TestHost, from: string, name: string) => (await h.exec(from, ['getent', 'hosts', name])).stdout;
    await eventually(async () => (await resolve(h1, 'web1', 'web2')).includes(web2.ip), 60_000, 250);
    await eventually(async () => (await resolve(h2, 'web2', 'web1')).includes(web1.ip), 60_000, 250);
    expect(await ping(h1, 'web1', 'web2')).toBe(true);
  }, 150_000);

  it('a repeated apply changes nothing on either host', async () => {
    for (const [h, node] of [[h1, 'node-1'], [h2, 'node-2']] as const) {
      const r = await h.weft(['--node', node, 'apply', '-f', examples]);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('0 kernel writes');
    }
  });

  it('an overlay container reaches the outside through docker_gwbridge', async () => {
    const routes = await h1.exec('web1', ['ip', 'route', 'show', 'default']);
    expect(routes.stdout).toMatch(/^default via 172\.30\.0\.1 dev eth1/);
    const gw = await run(['ip', '-n', h1.name, '-j', 'addr', 'show', 'docker_gwbridge']);
    expect(gw.stdout).toContain('"local":"172.30.0.1","prefixlen":16');
    // The firewall masquerades docker_gwbridge like any bridge network: the outside has no route
    // to 172.30.0.0/16 and sees node-1's underlay address.
    const dump = ul.sw.spawn(['ip', 'netns', 'exec', ul.sw.name, 'tcpdump', '-nli', 'sw0', '-c', '1', 'icmp[icmptype] == icmp-echo']);
    await eventually(async () => dump.output().includes('listening'), 5000);
    expect(await ping(h1, 'web1', ul.outside)).toBe(true);
    await Promise.race([dump.exited, new Promise((r) => setTimeout(r, 3000))]);
    expect(dump.output()).toContain(`IP 192.168.77.1 > ${ul.outside}: ICMP echo request`);
    // enable_icc=false on the seed's docker_gwbridge: overlay containers cannot use it to meet.
    expect((await run(['ip', 'netns', 'exec', h1.name, 'nft', 'list', 'set', 'inet', 'weft', 'no_icc_bridges'])).stdout).toContain('"docker_gwbridge"');
  });

  it('removing a container removes its FDB and neighbour entries on the other hosts', async () => {
    const dir = await h1.manifests({ ...files, 'containers.yaml': ctr('web1', 'node-1') });
    await applyAll(dir, [[h2, 'node-2']], ['--prune']);
    await applyAll(dir, [[h1, 'node-1']]);
    expect(await fdb(h1)).not.toContain(web2.mac);
    expect(await fdb(h1)).not.toContain('dst 192.168.77.2');
    expect(await neigh(h1)).toBe('');
    expect(await ping(h1, 'web1', web2.ip)).toBe(false);
  });

  it('adding a third Host updates the peers', async () => {
    const dir = await h1.manifests({
      ...files,
      'hosts.yaml': `${files['hosts.yaml']}\n---\n${host3}`,
      'containers.yaml': ctr('web1', 'node-1') + ctr('web2', 'node-2') + ctr('web3', 'node-3'),
    });
    await applyAll(dir, [[h1, 'node-1'], [h2, 'node-2'], [h3, 'node-3']]);
    const entries = await fdb(h1);
    expect(entries).toContain('00:00:00:00:00:00 dst 192.168.77.2 self permanent');
    expect(entries).toContain('00:00:00:00:00:00 dst 192.168.77.3 self permanent');
    const web3 = await addrOf(h3, 'web3');
    expect(await addrOf(h2, 'web2')).toEqual(web2);
    expect(await ping(h1, 'web1', web3.ip)).toBe(true);
    expect(await ping(h3, 'web3', web2.ip)).toBe(true);
    expect(await ping(h2, 'web2', web1.ip)).toBe(true);
  });

  it('with the etcd store, a container outside git becomes reachable from the other hosts and disappears when its node stops', async () => {
    const shared = await h1.manifests({
      ...files,
      'hosts.yaml': `${files['hosts.yaml']}\n---\n${host3}`,
      'containers.yaml': ctr('web1', 'node-1') + ctr('web2', 'node-2') + ctr('web3', 'node-3'),
    }, 'shared');
    // node-3 runs one more container that only its own manifests know.
    const local3 = await h3.manifests({ 'guest.yaml': 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: guest}\nspec: {host: node-3, networks: {my-multi-host-network: {aliases: [visitor]}}}\n' }, 'local');
    const watcher = ul.sw.spawn(['ip', 'netns', 'exec', ul.sw.name, 'node', path.join(repoRoot, 'test/support/store-watch.mjs'), store.replace(/\?.*$/, '')]);
    await eventually(async () => watcher.output().includes('watching'), 10_000);

    const r3 = await weftOn(h3, ['--node', 'node-3', '--store', store, 'apply', '-f', shared, '-f', local3]);
    expect(r3.stderr).toContain('applied and verified');
    expect(r3.code).toBe(0);
    await eventually(async () => watcher.output().includes('put /weft/v1/endpoints/node-3/my-multi-host-network/guest'), 5000);
    const r1 = await weftOn(h1, ['--node', 'node-1', '--store', store, 'apply', '-f', shared]);
    expect(r1.code).toBe(0);
    // node-1's DNS server follows the same manifests as its apply: the store's endpoints are used
    // only from Hosts those declare (node-3 is not in the example's).
    if (dns1) {
      process.kill(dns1.pid, 'SIGTERM');
      await dns1.exited;
    }
    dns1 = h1.spawn(['node', weftBin, '--host-netns', h1.name, '--state-dir', h1.stateDir, '--node', 'node-1', '--store', store, 'dns', '-f', shared]);
    const guest = await addrOf(h3, 'guest');
    // node-1's DNS server reads the store too (started with --store): it answers for guest and its alias.
    await eventually(async () => (await h1.exec('web1', ['getent', 'hosts', 'visitor'])).stdout.includes(guest.ip), 60_000, 250);
    expect(await ping(h1, 'web1', guest.ip)).toBe(true);

    // node-3 stops (the machine leaves the underlay, its weft no longer renews the lease): its
    // endpoints expire in the store, and node-1's next apply removes what it programmed for them.
    await run(['ip', '-n', h3.name, 'link', 'set', 'ul0', 'down']);
    await eventually(async () => watcher.output().includes('delete /weft/v1/endpoints/node-3/my-multi-host-network/guest'), 45_000, 250);
    const again = await weftOn(h1, ['--node', 'node-1', '--store', store, 'apply', '--detail', '-f', shared]);
    expect(again.code).toBe(0);
    expect(again.stdout.split('\n').sort()).toEqual(['', `- fdb ${guest.mac} dst 192.168.77.3 on ${vx} network my-multi-host-network`, `- neigh ${guest.ip} lladdr ${guest.mac} on ${vx} network my-multi-host-network`]);
    expect(await neigh(h1)).not.toContain(`${guest.ip} `);
    expect(await fdb(h1)).not.toContain(guest.mac);
    expect(await ping(h1, 'web1', guest.ip)).toBe(false);
    // The shared containers stay: they come from the manifests, not from the store.
    expect(await neigh(h1)).toContain(`${web2.ip} `);
    expect(await ping(h1, 'web1', web2.ip)).toBe(true);
  }, 150_000);
});
