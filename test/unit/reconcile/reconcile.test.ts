import { describe, expect, it } from 'vitest';
import { NotConvergedError } from '../../../src/errors.js';
import { FakeWorld, yaml } from '../../support/world.js';

const walkthrough =
  yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') +
  yaml.container('container1') +
  yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
  yaml.container('container3', '{networks: [isolated_nw]}');

describe('reconcile against the fake kernel', () => {
  it('creates the walkthrough, then a second apply plans nothing and writes nothing', async () => {
    const w = new FakeWorld();
    const first = await w.apply(walkthrough);
    expect(first.applied).toBe(true);
    expect(w.kernel.namespaces.has('h1-container1')).toBe(true);
    w.takeWrites();
    const second = await w.apply(walkthrough);
    expect(second.plan.changes).toEqual([]);
    expect(second.applied).toBe(false);
    expect(w.takeWrites()).toEqual([]);
    expect(second.stats.writes).toBe(0);
  });

  it('uses one process per namespace for writes', async () => {
    const w = new FakeWorld();
    const r = await w.apply(walkthrough);
    // read the host (no containers yet); add 3 namespaces in one batch; write the host and
    // 3 containers (each read back by its writer); verify by reading the host
    expect(r.stats.processes).toBe(1 + 1 + 4 + 1);
  });

  it('adding one container writes and verifies only what changed', async () => {
    const w = new FakeWorld();
    const three = yaml.container('a') + yaml.container('b') + yaml.container('c');
    await w.apply(three);
    w.takeWrites();
    const r = await w.apply(three + yaml.container('d'));
    // observe: host + a, b, c; write: netns add, host, d (read back); verify: host only
    expect(r.stats.processes).toBe(4 + 3 + 1);
    expect(w.takeWrites().filter((l) => /h1-[abc]\]/.test(l))).toEqual([]);
  });

  it('gives Docker addresses, MACs and default routes', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    const c2 = w.kernel.ns('h1-container2');
    expect(c2.addrs.map((a) => `${a.dev} ${a.local}/${a.prefixlen}`).sort()).toEqual(['eth0 172.17.0.3/16', 'eth1 172.21.0.2/16']);
    expect(c2.links.get('eth0')?.mac).toBe('02:42:ac:11:00:03');
    expect(c2.routes).toMatchObject([{ dst: 'default', gateway: '172.17.0.1', dev: 'eth0' }]);
    const c3 = w.kernel.ns('h1-container3');
    expect(c3.routes).toMatchObject([{ dst: 'default', gateway: '172.21.0.1', dev: 'eth0' }]);
    const host = w.kernel.ns('h1');
    expect(host.links.get('docker0')?.kind).toBe('bridge');
    expect(host.addrs.find((a) => a.dev === 'docker0')?.local).toBe('172.17.0.1');
  });

  it('repairs drift: a deleted address and a downed link come back', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    w.kernel.tamper((k) => {
      const c1 = k.ns('h1-container1');
      c1.addrs = [];
      k.ns('h1').links.get('docker0')!.up = false;
    });
    const lines = await w.plan(walkthrough);
    expect(lines).toEqual([
      '~ bridge docker0 network bridge (up: false -> true)',
      '+ address 172.17.0.2/16 on eth0 in h1-container1 container container1',
    ]);
    await w.apply(walkthrough);
    expect(await w.plan(walkthrough)).toEqual([]);
  });

  it('never touches objects it does not own', async () => {
    const w = new FakeWorld();
    w.kernel.tamper((k) => {
      k.ns('h1').links.set('br-foreign', { ifindex: 7, name: 'br-foreign', kind: 'bridge', mtu: 1500, mac: '', up: true, addrgenmode: 'eui64' });
      k.ensureNs('h1-other');
    });
    await w.apply(walkthrough);
    await w.apply(walkthrough, { prune: true });
    expect(w.kernel.ns('h1').links.has('br-foreign')).toBe(true);
    expect(w.kernel.namespaces.has('h1-other')).toBe(true);
  });

  it('refuses to create over a foreign object of the same name, before writing anything', async () => {
    const w = new FakeWorld();
    w.kernel.tamper((k) => {
      k.ns('h1').links.set('docker0', { ifindex: 7, name: 'docker0', kind: 'bridge', mtu: 1500, mac: '', up: true, addrgenmode: 'eui64' });
      k.ensureNs('h1-container1').links.get('lo')!.up = true;
    });
    await expect(w.apply(walkthrough)).rejects.toThrow(/namespace h1-container1 .* exists and is not weft's[\s\S]*bridge docker0 \(for network bridge\) exists and is not weft's; set com.docker.network.bridge.name/);
    expect(w.takeWrites()).toEqual([]);
  });

  it('reports removed containers as orphans and removes them only with --prune', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    const without3 = walkthrough.replace(/---\napiVersion: weft\/v1\nkind: Container\nmetadata: \{name: container3\}[\s\S]*$/, '---\n');
    const r = await w.apply(without3);
    expect(r.plan.changes).toEqual([]);
    expect(await w.plan(without3)).toEqual(['! orphan netns h1-container3 container container3: no longer in the manifests; remove with --prune']);
    await w.apply(without3, { prune: true });
    expect(w.kernel.namespaces.has('h1-container3')).toBe(false);
    expect([...w.kernel.files.keys()].some((f) => f.includes('container3'))).toBe(false);
    expect(await w.plan(without3, true)).toEqual([]);
  });

  it('keeps the default bridge while an orphaned container still uses it', async () => {
    const w = new FakeWorld();
    await w.apply(yaml.container('a') + yaml.container('b'));
    await w.apply(yaml.container('a'));
    await w.apply(yaml.network('n') + yaml.container('a', '{networks: [n]}'));
    expect(w.kernel.ns('h1').links.get('docker0')?.up).toBe(true);
    expect(w.kernel.ns('h1').links.get([...w.kernel.ns('h1').links.keys()].find((k) => k.startsWith('veth') && w.kernel.ns('h1').links.get(k)?.master === 'docker0') ?? '')?.master).toBe('docker0');
    await w.apply(yaml.network('n') + yaml.container('a', '{networks: [n]}'), { prune: true });
    expect(w.kernel.ns('h1').links.has('docker0')).toBe(false);
  });

  it('keeps addresses sticky when other containers come and go', async () => {
    const w = new FakeWorld();
    const three = yaml.container('a') + yaml.container('b') + yaml.container('c');
    await w.apply(three);
    expect(w.kernel.ns('h1-c').addrs[0]?.local).toBe('172.17.0.4');
    await w.apply(yaml.container('b') + yaml.container('c'), { prune: true });
    expect(w.kernel.ns('h1-c').addrs[0]?.local).toBe('172.17.0.4');
    await w.apply(yaml.container('b') + yaml.container('c') + yaml.container('d'));
    // d takes the lowest free address, the one a left.
    expect(w.kernel.ns('h1-d').addrs[0]?.local).toBe('172.17.0.2');
  });

  // Found by the soak (issue 16): a deleted address, or a deleted veth pair, came back with
  // another address (the lowest free one), so the peers' DNS answers and published ports moved.
  // a, b, c get .2, .3, .4; a leaves, so .2 is the lowest free address when c loses .4.
  const bc = yaml.container('b') + yaml.container('c');
  async function cHoldsFourWithTwoFree(): Promise<FakeWorld> {
    const w = new FakeWorld();
    await w.apply(yaml.container('a') + bc);
    await w.apply(bc, { prune: true });
    expect(w.kernel.ns('h1-c').addrs.map((x) => x.local)).toEqual(['172.17.0.4']);
    return w;
  }
  async function expectFourBack(w: FakeWorld): Promise<void> {
    await w.apply(bc);
    expect(w.kernel.ns('h1-c').addrs.map((x) => x.local)).toEqual(['172.17.0.4']);
    expect(await w.plan(bc)).toEqual([]);
  }

  it('gives a container whose address was deleted the same address back (its MAC names it)', async () => {
    const w = await cHoldsFourWithTwoFree();
    w.kernel.ns('h1-c').addrs.splice(0);
    await expectFourBack(w);
  });

  it('gives a container whose veth pair was deleted its address back (from the hosts file weft wrote for it)', async () => {
    const w = await cHoldsFourWithTwoFree();
    // The pair goes with both ends, as `ip link del` of either end does; the MAC goes with it.
    const c = w.kernel.ns('h1-c');
    w.kernel.ns('h1').links.delete(c.links.get('eth0')!.peer!.name);
    c.links.delete('eth0');
    c.addrs.splice(0);
    c.routes.splice(0);
    await expectFourBack(w);
  });

  it('never gives a remembered address back when another container holds it', async () => {
    const w = new FakeWorld();
    await w.apply(yaml.container('a') + yaml.container('b'));
    // b loses 172.17.0.3 and a now holds it (someone moved it): a keeps it, b gets another.
    w.kernel.ns('h1-b').addrs.splice(0);
    w.kernel.ns('h1-a').addrs[0]!.local = '172.17.0.3';
    await w.apply(yaml.container('a') + yaml.container('b'));
    expect(w.kernel.ns('h1-a').addrs.map((x) => x.local)).toEqual(['172.17.0.3']);
    expect(w.kernel.ns('h1-b').addrs.map((x) => x.local)).toEqual(['172.17.0.2']);
  });

  it('converges after a failed apply', async () => {
    const w = new FakeWorld();
    w.kernel.failOn = { match: /h1-container3\] ip route/, message: 'RTNETLINK answers: Network is unreachable' };
    await expect(w.apply(walkthrough)).rejects.toThrow(/setting route default in namespace|Network is unreachable/);
    await w.apply(walkthrough);
    expect(await w.plan(walkthrough)).toEqual([]);
  });

  it('fails verification loudly when the kernel does not keep a change', async () => {
    const w = new FakeWorld();
    const original = w.kernel.run.bind(w.kernel);
    w.kernel.run = async (p) => {
      const readBack = await original(p);
      w.kernel.ns('h1').links.delete('docker0');
      return readBack;
    };
    await expect(w.apply(yaml.container('a'))).rejects.toBeInstanceOf(NotConvergedError);
  });

  it('destroy removes everything it owns and leaves the host with only lo', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    await w.destroy(walkthrough);
    expect([...w.kernel.namespaces.keys()]).toEqual(['h1']);
    expect([...w.kernel.ns('h1').links.keys()]).toEqual(['lo']);
    expect(w.kernel.files.size).toBe(0);
  });

  it('moves a container to another network by recreating its endpoint', async () => {
    const w = new FakeWorld();
    const net = yaml.network('n1') + yaml.network('n2');
    await w.apply(net + yaml.container('a', '{networks: [n1]}'));
    await w.apply(net + yaml.container('a', '{networks: [n2]}'));
    const a = w.kernel.ns('h1-a');
    expect(a.addrs.map((x) => x.local)).toEqual(['172.19.0.2']);
    expect(a.routes[0]?.gateway).toBe('172.19.0.1');
    expect(await w.plan(net + yaml.container('a', '{networks: [n2]}'))).toEqual([]);
  });

  it('changes an MTU in place', async () => {
    const w = new FakeWorld();
    await w.apply(yaml.network('n1') + yaml.container('a', '{networks: [n1]}'));
    w.takeWrites();
    const m = yaml.network('n1', '{options: {com.docker.network.driver.mtu: "1400"}}') + yaml.container('a', '{networks: [n1]}');
    const lines = await w.plan(m);
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.startsWith('~ ') && l.includes('mtu: 1500 -> 1400'))).toBe(true);
    await w.apply(m);
    expect(w.kernel.ns('h1-a').links.get('eth0')?.mtu).toBe(1400);
  });
});
