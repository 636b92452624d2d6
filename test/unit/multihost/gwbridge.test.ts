import { describe, expect, it } from 'vitest';
import { InvalidManifestError } from '../../../src/errors.js';
import { FakeWorld, yaml } from '../../support/world.js';

const overlay = yaml.network('ovl', '{driver: overlay, ipam: {config: [{subnet: 10.0.9.0/24}]}}');
const seedGw = yaml.network('docker_gwbridge', '{ipam: {config: [{subnet: 172.30.0.0/16}]}, options: {com.docker.network.bridge.name: docker_gwbridge, com.docker.network.bridge.enable_icc: "false"}}');

describe('docker_gwbridge', () => {
  it('attaches an overlay-only container to docker_gwbridge for its default route', async () => {
    const w = new FakeWorld();
    const r = await w.apply(overlay + yaml.container('c1', '{networks: [ovl]}'));
    const gw = r.topology.networks.get('docker_gwbridge');
    expect(gw?.materialize).toBe(true);
    expect(gw?.network.options['com.docker.network.bridge.enable_icc']).toBe('false');
    expect(gw?.network.options['com.docker.network.bridge.enable_ip_masquerade']).toBe('true');
    // The next free default pool after the default bridge's 172.17.0.0/16.
    expect(w.kernel.ns('h1').addrs.find((a) => a.dev === 'docker_gwbridge')).toMatchObject({ local: '172.18.0.1', prefixlen: 16 });
    const c = w.kernel.ns('h1-c1');
    expect(c.addrs.map((a) => `${a.dev} ${a.local}`).sort()).toEqual([`eth0 ${r.topology.containers.get('c1')?.endpoints[0]?.ipv4?.address}`, 'eth1 172.18.0.2']);
    expect(c.routes).toMatchObject([{ dst: 'default', gateway: '172.18.0.1', dev: 'eth1' }]);
    expect(await w.plan(overlay + yaml.container('c1', '{networks: [ovl]}'))).toEqual([]);
  });

  it('is not used when another network gives a way out, nor for internal-only containers', async () => {
    const w = new FakeWorld();
    const text = overlay + yaml.network('front', '{}') + yaml.network('back', '{internal: true}') +
      yaml.container('both', '{networks: [ovl, front]}') + yaml.container('inner', '{networks: [back]}') +
      yaml.network('ovi', '{driver: overlay, internal: true}') + yaml.container('ovint', '{networks: [ovi]}');
    const r = await w.apply(text);
    expect(r.topology.networks.has('docker_gwbridge')).toBe(false);
    expect(w.kernel.ns('h1-both').routes).toMatchObject([{ dst: 'default', dev: 'eth1' }]);
    expect(w.kernel.ns('h1-inner').routes).toEqual([]);
    expect(w.kernel.ns('h1-ovint').routes).toEqual([]);
  });

  it('uses the declared docker_gwbridge of the seed (subnet, bridge name, icc)', async () => {
    const w = new FakeWorld();
    await w.apply(seedGw + overlay + yaml.container('c1', '{networks: [ovl]}'));
    expect(w.kernel.ns('h1').addrs.find((a) => a.dev === 'docker_gwbridge')).toMatchObject({ local: '172.30.0.1', prefixlen: 16 });
    expect(w.kernel.ns('h1-c1').routes).toMatchObject([{ gateway: '172.30.0.1', dev: 'eth1' }]);
  });

  it('does not shift the subnets of other networks when it appears', async () => {
    const w = new FakeWorld();
    const nets = yaml.network('a', '{}') + yaml.network('e', '{}');
    const before = await w.apply(nets + yaml.container('x', '{networks: [a, e]}'));
    const after = await w.apply(nets + overlay + yaml.container('x', '{networks: [a, e]}') + yaml.container('c1', '{networks: [ovl]}'));
    const subnet = (r: typeof before, n: string) => r.topology.networks.get(n)?.pools.v4[0]?.subnet.base;
    expect(subnet(after, 'a')).toBe(subnet(before, 'a'));
    expect(subnet(after, 'e')).toBe(subnet(before, 'e'));
    expect(after.topology.networks.get('docker_gwbridge')?.pools.v4[0]?.subnet.prefix).toBe(16);
  });

  it('stays when the last overlay container leaves (like the default bridge), and goes with --prune', async () => {
    const w = new FakeWorld();
    await w.apply(overlay + yaml.container('c1', '{networks: [ovl]}'));
    const r = await w.apply(overlay);
    // c1 itself is an orphan (removed from the manifests); docker_gwbridge is not.
    expect(r.plan.orphans.filter((o) => o.observed?.owner.name === 'docker_gwbridge')).toEqual([]);
    expect(w.kernel.ns('h1').links.has('docker_gwbridge')).toBe(true);
    expect((await w.plan(overlay)).filter((l) => !l.includes('container c1'))).toEqual([]);
    await w.apply(overlay, { prune: true });
    expect(w.kernel.ns('h1').links.has('docker_gwbridge')).toBe(false);
  });

  it('rejects a docker_gwbridge that is not a bridge or is internal', () => {
    const w = new FakeWorld();
    expect(() => w.model(yaml.network('docker_gwbridge', '{driver: overlay}'))).toThrow(/GWBRIDGE_DRIVER/);
    expect(() => w.model(yaml.network('docker_gwbridge', '{internal: true}'))).toThrow(InvalidManifestError);
  });
});
