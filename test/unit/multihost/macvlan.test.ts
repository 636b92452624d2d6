import { describe, expect, it } from 'vitest';
import { inspectNetworks } from '../../../src/inspect/networks.js';
import { predefinedNetworks } from '../../../src/model/build.js';
import { FakeWorld, yaml } from '../../support/world.js';

const mv = (opts: string, ipam = '{config: [{subnet: 192.168.50.0/24, gateway: 192.168.50.1}]}') => yaml.network('mv', `{driver: macvlan, ipam: ${ipam}, options: ${opts}}`);

/** A host with an interface "eth0" (the macvlan parent) that weft does not own. */
function world(mtu = 1500): FakeWorld {
  const w = new FakeWorld();
  w.kernel.tamper((k) => k.ns('h1').links.set('eth0', { ifindex: 2, name: 'eth0', mtu, mac: '02:00:00:00:50:01', up: true, addrgenmode: 'eui64' }));
  return w;
}

describe('macvlan networks (fake kernel)', () => {
  it('creates each container\'s macvlan straight into its namespace, with a default route via the segment\'s gateway', async () => {
    const w = world();
    const text = mv('{parent: eth0}') + yaml.container('m1', '{networks: [mv]}') + yaml.container('m2', '{networks: {mv: {ipv4Address: 192.168.50.20}}}');
    await w.apply(text);
    const writes = w.kernel.log.join('\n');
    expect(writes).toContain('[@host] ip link add eth0 link eth0 address 02:42:c0:a8:32:02 mtu 1500 netns h1-m1 type macvlan mode bridge');
    const m1 = w.kernel.ns('h1-m1');
    expect(m1.links.get('eth0')).toMatchObject({ kind: 'macvlan', up: true, mac: '02:42:c0:a8:32:02', info: { mode: 'bridge' } });
    expect(m1.addrs.map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['192.168.50.2/24']);
    expect(m1.routes).toMatchObject([{ dst: 'default', gateway: '192.168.50.1', dev: 'eth0' }]);
    expect(w.kernel.ns('h1-m2').addrs.map((a) => a.local)).toEqual(['192.168.50.20']);
    // No bridge, no veth, no address on the host: the gateway is a router on the segment.
    expect([...w.kernel.ns('h1').links.keys()].sort()).toEqual(['eth0', 'lo']);
    w.takeWrites();
    expect((await w.apply(text)).plan.changes).toEqual([]);
    expect(w.takeWrites()).toEqual([]);
  });

  it('keeps addresses sticky and takes the parent\'s MTU', async () => {
    const w = world(1400);
    await w.apply(mv('{parent: eth0}') + yaml.container('m1', '{networks: [mv]}'));
    expect(w.kernel.ns('h1-m1').links.get('eth0')?.mtu).toBe(1400);
    // A new container sorted first does not take m1's address.
    await w.apply(mv('{parent: eth0}') + yaml.container('a0', '{networks: [mv]}') + yaml.container('m1', '{networks: [mv]}'));
    expect(w.kernel.ns('h1-m1').addrs.map((a) => a.local)).toEqual(['192.168.50.2']);
    expect(w.kernel.ns('h1-a0').addrs.map((a) => a.local)).toEqual(['192.168.50.3']);
  });

  it('creates the 802.1q sub-interface for a parent such as eth0.50', async () => {
    const w = world();
    await w.apply(mv('{parent: eth0.50, macvlan_mode: private}') + yaml.container('m1', '{networks: [mv]}'));
    const h = w.kernel.ns('h1');
    expect(h.links.get('eth0.50')).toMatchObject({ kind: 'vlan', up: true, info: { id: 50 }, parentIndex: 2 });
    expect(w.kernel.ns('h1-m1').links.get('eth0')).toMatchObject({ kind: 'macvlan', info: { mode: 'private' } });
    expect(await w.plan(mv('{parent: eth0.50, macvlan_mode: private}') + yaml.container('m1', '{networks: [mv]}'))).toEqual([]);
  });

  it('recreates the macvlan when the mode changes, before the host creates it again', async () => {
    const w = world();
    await w.apply(mv('{parent: eth0}') + yaml.container('m1', '{networks: [mv]}'));
    w.takeWrites();
    await w.apply(mv('{parent: eth0, macvlan_mode: vepa}') + yaml.container('m1', '{networks: [mv]}'));
    const writes = w.takeWrites();
    expect(writes[0]).toBe('[h1-m1] ip link del dev eth0');
    expect(writes).toContain('[@host] ip link add eth0 link eth0 address 02:42:c0:a8:32:02 mtu 1500 netns h1-m1 type macvlan mode vepa');
    expect(w.kernel.ns('h1-m1').routes).toMatchObject([{ dst: 'default', gateway: '192.168.50.1' }]);
    expect(await w.plan(mv('{parent: eth0, macvlan_mode: vepa}') + yaml.container('m1', '{networks: [mv]}'))).toEqual([]);
  });

  it('reports a parent this host does not have', async () => {
    const w = world();
    await expect(w.apply(mv('{parent: eth9}') + yaml.container('m1', '{networks: [mv]}'))).rejects.toThrow(/parent interface "eth9" does not exist on this host.*\[PARENT_MISSING\]/);
    await expect(w.apply(mv('{parent: eth9.7}'))).rejects.toThrow(/parent interface "eth9" does not exist/);
  });

  it('validates like Docker: parent, mode, subnet and gateway', () => {
    const w = world();
    expect(() => w.model(yaml.network('mv', '{driver: macvlan, ipam: {config: [{subnet: 192.168.50.0/24, gateway: 192.168.50.1}]}}'))).toThrow(/PARENT_REQUIRED/);
    expect(() => w.model(mv('{parent: eth0, macvlan_mode: weird}'))).toThrow(/macvlan_mode is "weird"; use one of bridge, private, vepa, passthru \[BAD_OPTION\]/);
    expect(() => w.model(mv('{parent: eth0}', '{config: [{subnet: 192.168.50.0/24}]}'))).toThrow(/subnet 192.168.50.0\/24 has no gateway.*\[MACVLAN_SUBNET\]/);
    expect(() => w.model(yaml.network('mv', '{driver: macvlan, options: {parent: eth0}}'))).toThrow(/declares no IPv4 subnet/);
    expect(() => w.model(mv('{parent: eth0}') + yaml.network('mv2', '{driver: macvlan, ipam: {config: [{subnet: 192.168.51.0/24, gateway: 192.168.51.1}]}, options: {parent: eth0}}'))).toThrow(/PARENT_IN_USE/);
  });

  it('network inspect lists macvlan containers', async () => {
    const w = world();
    const r = await w.apply(mv('{parent: eth0}') + yaml.container('m1', '{networks: [mv]}'));
    const n = inspectNetworks({ observed: r.observed, predefined: predefinedNetworks(), created: {} }).find((x) => x.Name === 'mv');
    expect(n).toMatchObject({ Driver: 'macvlan', Options: { parent: 'eth0', macvlan_mode: 'bridge' } });
    expect(Object.values(n?.Containers ?? {})).toEqual([expect.objectContaining({ Name: 'm1', IPv4Address: '192.168.50.2/24', MacAddress: '02:42:c0:a8:32:02' })]);
  });
});
