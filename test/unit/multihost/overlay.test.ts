import { describe, expect, it } from 'vitest';
import { networkId } from '../../../src/net/ids.js';
import { inspectNetworks } from '../../../src/inspect/networks.js';
import { predefinedNetworks } from '../../../src/model/build.js';
import type { ReconcileResult } from '../../../src/reconcile/index.js';
import { FakeWorld, yaml } from '../../support/world.js';

const hostDoc = (name: string, address: string) => `apiVersion: weft/v1\nkind: Host\nmetadata: {name: ${name}}\nspec: {address: ${address}}\n---\n`;
const ov = `ov-${networkId('my-multi-host-network').slice(0, 12)}`;
const vx = `vx-${networkId('my-multi-host-network').slice(0, 12)}`;

const net = yaml.network('my-multi-host-network', '{driver: overlay, ipam: {config: [{subnet: 10.0.9.0/24}]}}');
const twoHosts = hostDoc('node-1', '192.168.77.1') + hostDoc('node-2', '192.168.77.2');
const manifests = (extra = '') =>
  twoHosts + net +
  yaml.container('web1', '{host: node-1, networks: [my-multi-host-network]}') +
  yaml.container('web2', '{host: node-2, networks: [my-multi-host-network]}') + extra;

/** A container's first endpoint as compiled: address and MAC. */
function ep(r: ReconcileResult, name: string): { ip: string; mac: string } {
  const e = r.topology.containers.get(name)?.endpoints[0];
  return { ip: e?.ipv4?.address ?? '(none)', mac: e?.mac ?? '(none)' };
}

/** A simulated host on its own fake kernel, with its underlay address on ul0. */
function node(name: string, ns: string, address?: string): FakeWorld {
  const w = new FakeWorld(ns, { node: name });
  if (address) {
    w.kernel.tamper((k) => {
      const h = k.ns(ns);
      h.links.set('ul0', { ifindex: 2, name: 'ul0', mtu: 1500, mac: '02:00:00:00:77:01', up: true, addrgenmode: 'eui64' });
      h.addrs.push({ dev: 'ul0', family: 4, local: address, prefixlen: 24, scope: 'global' });
    });
  }
  return w;
}

describe('overlay networks (fake kernel)', () => {
  it('creates a bridge and a VXLAN port, and programs the remote container statically', async () => {
    const a = node('node-1', 'h1');
    const r = await a.apply(manifests());
    const web1 = ep(r, 'web1');
    const web2 = ep(r, 'web2');
    const h = a.kernel.ns('h1');
    expect(h.links.get(ov)).toMatchObject({ kind: 'bridge', mtu: 1450, up: true });
    expect(h.links.get(vx)).toMatchObject({ kind: 'vxlan', mtu: 1450, up: true, master: ov, info: { local: '192.168.77.1', port: 4789, learning: false, proxy: true } });
    // The host has no address on the overlay (containers leave through docker_gwbridge), no IPv6 either.
    expect(h.addrs.filter((x) => x.dev === ov)).toEqual([]);
    expect(h.sysctls.get(`net/ipv6/conf/${ov}/disable_ipv6`)).toBe('1');
    expect(h.sysctls.get(`net/ipv6/conf/${vx}/disable_ipv6`)).toBe('1');
    expect(h.fdb.map((f) => `${f.mac} ${f.dst}`).sort()).toEqual(['00:00:00:00:00:00 192.168.77.2', `${web2.mac} 192.168.77.2`]);
    expect(h.neigh).toEqual([{ dev: vx, address: web2.ip, lladdr: web2.mac, state: ['PERMANENT'], protocol: '250' }]);
    // MACs derive from the address as in Docker.
    expect(web2.mac).toBe(`02:42:${web2.ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`);
    const c = a.kernel.ns('h1-web1');
    expect(c.links.get('eth0')).toMatchObject({ mac: web1.mac, mtu: 1450 });
    expect(c.addrs.map((x) => `${x.dev} ${x.local}/${x.prefixlen}`)).toContain(`eth0 ${web1.ip}/24`);
    // web2 runs on node-2: nothing of it exists here.
    expect(a.kernel.namespaces.has('h1-web2')).toBe(false);
    a.takeWrites();
    const again = await a.apply(manifests());
    expect(again.plan.changes).toEqual([]);
    expect(a.takeWrites()).toEqual([]);
  });

  it('gives every host the same addresses, from the manifests alone', async () => {
    const a = node('node-1', 'h1');
    const b = node('node-2', 'h2');
    // Foreign routes and earlier allocations on one host must not change overlay addressing.
    b.kernel.tamper((k) => k.ns('h2').routes.push({ family: 4, dst: '10.0.0.0/24', dev: 'lo', protocol: 'boot', proto: 3, table: 'main', type: 'unicast' }));
    const ra = await a.apply(manifests(yaml.container('web3', '{host: node-2, networks: [my-multi-host-network]}')));
    const rb = await b.apply(manifests(yaml.container('web3', '{host: node-2, networks: [my-multi-host-network]}')));
    const addrs = (r: typeof ra) => [...r.topology.containers.values()].map((c) => `${c.container.name}=${c.endpoints[0]?.ipv4?.address} ${c.endpoints[0]?.mac}`);
    expect(addrs(ra)).toEqual(addrs(rb));
    expect(new Set(['web1', 'web2', 'web3'].map((n) => ep(ra, n).ip)).size).toBe(3);
    // The mirror image on node-2: entries for web1 only.
    expect(b.kernel.ns('h2').neigh.map((n) => n.address)).toEqual([ep(ra, 'web1').ip]);
  });

  it('a subnet from the default pools is the same on every host', async () => {
    const text = twoHosts + yaml.network('auto', '{driver: overlay}') +
      yaml.container('c1', '{host: node-1, networks: [auto]}') + yaml.container('c2', '{host: node-2, networks: [auto]}');
    const a = node('node-1', 'h1');
    const b = node('node-2', 'h2');
    b.kernel.tamper((k) => k.ns('h2').routes.push({ family: 4, dst: '10.0.0.0/8', dev: 'lo', protocol: 'boot', proto: 3, table: 'main', type: 'unicast' }));
    const ra = await a.apply(text);
    const rb = await b.apply(text);
    // 10.0.0.0/24, the first /24 of the overlay pools, although node-2 routes 10.0.0.0/8 itself.
    expect(ra.topology.containers.get('c2')?.endpoints[0]?.ipv4).toMatchObject({ prefix: 24, gateway: '10.0.0.1' });
    expect(ra.topology.containers.get('c2')?.endpoints[0]?.ipv4?.address).toMatch(/^10\.0\.0\./);
    expect(rb.topology.containers.get('c2')?.endpoints[0]?.ipv4).toEqual(ra.topology.containers.get('c2')?.endpoints[0]?.ipv4);
  });

  it('removing a remote container removes its entries without --prune, and moves no other address', async () => {
    const a = node('node-1', 'h1');
    const r = await a.apply(manifests(yaml.container('web0', '{host: node-2, networks: [my-multi-host-network]}')));
    const [web0, web1, web2] = [ep(r, 'web0'), ep(r, 'web1'), ep(r, 'web2')];
    expect(a.kernel.ns('h1').neigh.map((n) => n.address).sort()).toEqual([web0.ip, web2.ip].sort());
    const lines = await a.plan(manifests());
    expect(lines.sort()).toEqual([
      `- fdb ${web0.mac} dst 192.168.77.2 on ${vx} network my-multi-host-network`,
      `- neigh ${web0.ip} lladdr ${web0.mac} on ${vx} network my-multi-host-network`,
    ]);
    const after = await a.apply(manifests());
    expect([ep(after, 'web1'), ep(after, 'web2')]).toEqual([web1, web2]);
    expect(a.kernel.ns('h1').neigh.map((n) => n.address)).toEqual([web2.ip]);
    expect(a.kernel.ns('h1').fdb.map((f) => f.mac)).not.toContain(web0.mac);
    // The broadcast entry to node-2 stays while web2 is there; it goes with the last one.
    await a.apply(twoHosts + net + yaml.container('web1', '{host: node-1, networks: [my-multi-host-network]}'));
    expect(a.kernel.ns('h1').fdb).toEqual([]);
    expect(a.kernel.ns('h1').neigh).toEqual([]);
  });

  it('adding a third host programs it as a peer', async () => {
    const a = node('node-1', 'h1');
    await a.apply(manifests());
    const third = hostDoc('node-3', '192.168.77.3') + yaml.container('web3', '{host: node-3, networks: [my-multi-host-network]}');
    const r = await a.apply(manifests(third));
    expect(a.kernel.ns('h1').fdb.map((f) => `${f.mac} ${f.dst}`).sort()).toEqual([
      '00:00:00:00:00:00 192.168.77.2',
      '00:00:00:00:00:00 192.168.77.3',
      `${ep(r, 'web2').mac} 192.168.77.2`,
      `${ep(r, 'web3').mac} 192.168.77.3`,
    ].sort());
  });

  it('creates the overlay on a node only while a local container uses it', async () => {
    const a = node('node-1', 'h1');
    await a.apply(twoHosts + net + yaml.container('web2', '{host: node-2, networks: [my-multi-host-network]}'));
    expect(a.kernel.ns('h1').links.has(ov)).toBe(false);
    expect(a.kernel.ns('h1').fdb).toEqual([]);
  });

  it('finds its node from the host addresses when --node is not given', async () => {
    const w = new FakeWorld('h2');
    w.kernel.tamper((k) => {
      k.ns('h2').links.set('ul0', { ifindex: 2, name: 'ul0', mtu: 1500, mac: '02:00:00:00:77:02', up: true, addrgenmode: 'eui64' });
      k.ns('h2').addrs.push({ dev: 'ul0', family: 4, local: '192.168.77.2', prefixlen: 24, scope: 'global' });
    });
    const r = await w.apply(manifests());
    expect(r.topology.node).toBe('node-2');
    expect(w.kernel.namespaces.has('h2-web2')).toBe(true);
    expect(w.kernel.namespaces.has('h2-web1')).toBe(false);
  });

  it('refuses to guess when no Host, or several, have their address here', async () => {
    const none = new FakeWorld('h9');
    await expect(none.apply(manifests())).rejects.toThrow(/none of the declared Host addresses \(node-1=192\.168\.77\.1, node-2=192\.168\.77\.2\); pass --node NAME/);
    const both = new FakeWorld('h1');
    both.kernel.tamper((k) => {
      k.ns('h1').links.set('ul0', { ifindex: 2, name: 'ul0', mtu: 1500, mac: '02:00:00:00:77:01', up: true, addrgenmode: 'eui64' });
      for (const local of ['192.168.77.1', '192.168.77.2']) k.ns('h1').addrs.push({ dev: 'ul0', family: 4, local, prefixlen: 24, scope: 'global' });
    });
    await expect(both.apply(manifests())).rejects.toThrow(/several declared Hosts have their address on this machine/);
    await expect(new FakeWorld('h1', { node: 'node-7' }).apply(manifests())).rejects.toThrow(/--node node-7: no Host of that name/);
  });

  it('recreates a VXLAN device whose flags drifted, with its entries', async () => {
    const a = node('node-1', 'h1');
    const r = await a.apply(manifests());
    a.kernel.tamper((k) => {
      const l = k.ns('h1').links.get(vx)!;
      l.info = { ...l.info, proxy: false };
    });
    const lines = await a.plan(manifests());
    expect(lines[0]).toBe(`- vxlan ${vx} network my-multi-host-network`);
    expect(lines).toContain(`+ neigh ${ep(r, 'web2').ip} lladdr ${ep(r, 'web2').mac} on ${vx} network my-multi-host-network`);
    await a.apply(manifests());
    expect(await a.plan(manifests())).toEqual([]);
    expect(a.kernel.ns('h1').neigh).toHaveLength(1);
  });

  it('uses vxlanid_list as the VNI, else one derived from the network', async () => {
    const a = node('node-1', 'h1');
    await a.apply(manifests().replace('driver: overlay,', 'driver: overlay, options: {com.docker.network.driver.overlay.vxlanid_list: "4242"},'));
    expect(a.kernel.ns('h1').links.get(vx)?.info?.['id']).toBe(4242);
    const b = node('node-1', 'h1');
    await b.apply(manifests());
    const vni = b.kernel.ns('h1').links.get(vx)?.info?.['id'] as number;
    expect(vni).toBeGreaterThanOrEqual(4096);
    expect(vni).toBeLessThanOrEqual(16_777_215);
  });

  it('an IPv6 overlay keeps IPv6 on its VXLAN device (no address of its own) for the remote IPv6 neighbours', async () => {
    const net6 = yaml.network('my-multi-host-network', '{driver: overlay, enableIPv6: true, ipam: {config: [{subnet: 10.0.9.0/24}, {subnet: "fd31:19::/64"}]}}');
    const text = twoHosts + net6 +
      yaml.container('web1', '{host: node-1, networks: [my-multi-host-network]}') +
      yaml.container('web2', '{host: node-2, networks: {my-multi-host-network: {ipv6Address: "fd31:19::20"}}}');
    const a = node('node-1', 'h1');
    await a.apply(text);
    const h = a.kernel.ns('h1');
    expect(h.links.get(vx)).toMatchObject({ kind: 'vxlan', addrgenmode: 'none', up: true });
    expect(h.sysctls.get(`net/ipv6/conf/${vx}/disable_ipv6`)).toBe('0');
    expect(h.sysctls.get(`net/ipv6/conf/${ov}/disable_ipv6`)).toBe('1');
    expect(h.neigh.filter((n) => n.address.includes(':'))).toEqual([expect.objectContaining({ dev: vx, address: 'fd31:19::20', state: ['PERMANENT'] })]);
    expect(await a.plan(text)).toEqual([]);
    // Drift: the device given a link-local address generation mode again.
    h.links.get(vx)!.addrgenmode = 'eui64';
    expect(await a.plan(text)).toEqual([`~ vxlan ${vx} network my-multi-host-network (addrgenmode: (none) -> none)`]);
    await a.apply(text);
    expect(h.links.get(vx)?.addrgenmode).toBe('none');
    expect(await a.plan(text)).toEqual([]);
  });

  it('turning IPv6 on for an overlay that exists converges in one apply (IPv6 back on the device before its neighbours)', async () => {
    const a = node('node-1', 'h1');
    await a.apply(manifests());
    expect(a.kernel.ns('h1').sysctls.get(`net/ipv6/conf/${vx}/disable_ipv6`)).toBe('1');
    const text = manifests().replace('{driver: overlay, ipam', '{driver: overlay, enableIPv6: true, ipam').replace('{subnet: 10.0.9.0/24}', '{subnet: 10.0.9.0/24}, {subnet: "fd31:19::/64"}');
    a.takeWrites();
    expect((await a.apply(text)).plan.changes.length).toBeGreaterThan(0);
    const writes = a.takeWrites();
    const sysctl = writes.indexOf(`[@host] sysctl net/ipv6/conf/${vx}/disable_ipv6=0`);
    const neigh6 = writes.findIndex((l) => /^\[@host\] ip neigh replace fd31:19::/.test(l));
    expect(sysctl).toBeGreaterThan(-1);
    expect(neigh6).toBeGreaterThan(sysctl);
    expect(await a.plan(text)).toEqual([]);
  });

  it('network inspect shows an overlay, from the kernel alone', async () => {
    const a = node('node-1', 'h1');
    const r = await a.apply(manifests());
    const nets = inspectNetworks({ observed: r.observed, predefined: predefinedNetworks(), created: {} });
    const n = nets.find((x) => x.Name === 'my-multi-host-network');
    expect(n).toMatchObject({ Driver: 'overlay', Scope: 'swarm' });
    expect(n?.Options['com.docker.network.driver.overlay.vxlanid_list']).toMatch(/^\d+$/);
    expect(Object.values(n?.Containers ?? {})).toEqual([expect.objectContaining({ Name: 'web1', IPv4Address: `${ep(r, 'web1').ip}/24`, MacAddress: ep(r, 'web1').mac })]);
    // With the manifests: Docker's Peers, the hosts that run the network's containers.
    const withManifests = inspectNetworks({ observed: r.observed, topology: r.topology, predefined: predefinedNetworks(), created: {} });
    expect(withManifests.find((x) => x.Name === 'my-multi-host-network')?.Peers).toEqual([
      { Name: 'node-1', IP: '192.168.77.1' },
      { Name: 'node-2', IP: '192.168.77.2' },
    ]);
  });

  it('a container moved to another host leaves this one without --prune', async () => {
    const a = node('node-1', 'h1');
    await a.apply(manifests());
    expect(a.kernel.namespaces.has('h1-web1')).toBe(true);
    const moved = manifests().replace('{host: node-1, networks', '{host: node-2, networks');
    const r = await a.apply(moved);
    // Nothing of web1 or the overlay is kept as an orphan (the firewall of a host left without
    // bridge networks would be, until --prune).
    expect(r.plan.orphans.filter((o) => ['web1', 'my-multi-host-network'].includes(o.observed?.owner.name ?? ''))).toEqual([]);
    expect(a.kernel.namespaces.has('h1-web1')).toBe(false);
    // No local container left on the overlay: the network goes from this node, entries and all.
    expect(a.kernel.ns('h1').links.has(ov)).toBe(false);
    expect((await a.plan(moved)).filter((l) => !l.startsWith('! orphan'))).toEqual([]);
  });
});
