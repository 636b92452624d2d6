import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../src/errors.js';
import { ConflictError } from '../../../src/reconcile/index.js';
import { FakeWorld, yaml } from '../../support/world.js';

// Issue 11 findings 8 and 11: weft adopts a namespace, an /etc/netns folder or an untagged link
// only on proof that it made it; anything else with a name weft wants is a conflict, and nothing
// in it is changed, by apply, apply --prune or destroy.

const net = yaml.network('n1', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}');
const c1 = net + yaml.container('c1', '{networks: [n1]}');

function writesIn(w: FakeWorld, ns: string): string[] {
  return w.takeWrites().filter((l) => l.includes(ns));
}

describe('namespaces weft did not make', () => {
  it('an empty namespace with the name weft wants is a conflict, untouched by apply, --prune and destroy', async () => {
    const w = new FakeWorld();
    w.kernel.ensureNs('h1-c1'); // someone ran `ip netns add h1-c1`
    const err = await w.apply(c1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain('namespace h1-c1 (for container c1) exists and is not weft');
    expect(w.takeWrites()).toEqual([]);
    // Without c1 in the manifests, --prune and destroy leave it alone.
    await w.apply(net, { prune: true });
    await w.destroy(c1).catch(() => undefined);
    expect(writesIn(w, 'h1-c1')).toEqual([]);
    expect(w.kernel.namespaces.has('h1-c1')).toBe(true);
  });

  it('a namespace made by weft that crashed before tagging it is adopted on weft\'s recorded intent', async () => {
    const w = new FakeWorld();
    w.kernel.failOn = { match: /\[h1-c1\] ip link set dev lo alias/, message: 'killed' };
    await expect(w.apply(c1)).rejects.toBeInstanceOf(KernelError);
    expect(w.kernel.intents.has('h1-c1')).toBe(true);
    await w.apply(c1);
    expect(await w.plan(c1)).toEqual([]);
    expect(w.kernel.intents.size).toBe(0);
  });

  it('also adopts one that crashed right after ip netns add (only an untagged loopback in it)', async () => {
    const w = new FakeWorld();
    w.kernel.failOn = { match: /ip link add veth/, message: 'killed' };
    await expect(w.apply(c1)).rejects.toBeInstanceOf(KernelError);
    expect(w.kernel.ns('h1-c1').links.size).toBe(1);
    await w.apply(c1);
    expect(await w.plan(c1)).toEqual([]);
  });

  it('a pending intent does not cover a namespace that holds someone else\'s objects', async () => {
    const w = new FakeWorld();
    w.kernel.intents.add('h1-c1');
    w.kernel.ensureNs('h1-c1').links.set('dummy0', { ifindex: 9, name: 'dummy0', kind: 'dummy', mtu: 1500, mac: '02:00:00:00:00:09', up: false, addrgenmode: 'eui64' });
    await expect(w.apply(c1)).rejects.toBeInstanceOf(ConflictError);
    await w.apply(net, { prune: true });
    expect(w.kernel.ns('h1-c1').links.has('dummy0')).toBe(true);
  });

  it('an /etc/netns folder with files weft did not write is a conflict, and the files stay', async () => {
    const w = new FakeWorld();
    w.kernel.files.set('/etc/netns/h1-c1/resolv.conf', 'nameserver 203.0.113.1\n');
    const err = await w.apply(c1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain('folder /etc/netns/h1-c1');
    expect(w.takeWrites()).toEqual([]);
    await w.apply(net, { prune: true });
    expect(w.kernel.files.get('/etc/netns/h1-c1/resolv.conf')).toBe('nameserver 203.0.113.1\n');
  });
});

describe('untagged links', () => {
  it('a veth left untagged by a crash (right name, kind and peer) is adopted and tagged', async () => {
    const w = new FakeWorld();
    w.kernel.failOn = { match: /ip link set dev veth\S+ addrgenmode \S+ alias/, message: 'killed' };
    await expect(w.apply(c1)).rejects.toBeInstanceOf(KernelError);
    const host = w.kernel.ns('h1');
    const veth = [...host.links.values()].find((l) => l.kind === 'veth');
    expect(veth?.alias).toBeUndefined();
    w.takeWrites();
    await w.apply(c1);
    expect(w.takeWrites().some((l) => l.includes(`link set dev ${veth!.name}`) && l.includes('alias "weft:'))).toBe(true);
    expect(await w.plan(c1)).toEqual([]);
  });

  it('a bridge left untagged by a crash (weft\'s hashed name, still down) is adopted', async () => {
    const w = new FakeWorld();
    w.kernel.failOn = { match: /ip link set dev br-\S+ alias/, message: 'killed' };
    await expect(w.apply(c1)).rejects.toBeInstanceOf(KernelError);
    await w.apply(c1);
    expect(await w.plan(c1)).toEqual([]);
  });

  it('an untagged veth with weft\'s name but another peer is a conflict', async () => {
    const w = new FakeWorld();
    await w.apply(c1);
    const host = w.kernel.ns('h1');
    const veth = [...host.links.values()].find((l) => l.kind === 'veth')!;
    // Someone else's pair under weft's name: its peer is not the container's interface.
    await w.destroy(c1);
    w.kernel.ensureNs('other');
    const { alias: _alias, ...untagged } = veth;
    host.links.set(veth.name, { ...untagged, peer: { ns: 'other', name: 'x0' } });
    w.kernel.ns('other').links.set('x0', { ifindex: 777, name: 'x0', kind: 'veth', mtu: 1500, mac: '02:00:00:00:00:77', up: false, addrgenmode: 'eui64', peer: { ns: 'h1', name: veth.name } });
    const err = await w.apply(c1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain(`veth ${veth.name}`);
  });

  it('an untagged bridge with a name a user chose (docker0) is never adopted', async () => {
    const w = new FakeWorld();
    w.kernel.ns('h1').links.set('docker0', { ifindex: 50, name: 'docker0', kind: 'bridge', mtu: 1500, mac: '02:00:00:00:00:50', up: false, addrgenmode: 'eui64' });
    const err = await w.apply(yaml.container('c0', '{}')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain('bridge docker0');
  });
});
