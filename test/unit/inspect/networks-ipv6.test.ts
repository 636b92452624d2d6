import { describe, expect, it } from 'vitest';
import { inspectNetworks } from '../../../src/inspect/networks.js';
import { predefinedNetworks } from '../../../src/model/build.js';
import { FakeWorld, yaml } from '../../support/world.js';

const manifests =
  yaml.network('bridge', '{enableIPv6: true, ipam: {config: [{subnet: "fd30::/64"}]}}') +
  yaml.network('front', '{enableIPv6: true, ipam: {config: [{subnet: 172.31.1.0/24}, {subnet: "fd31:1::/64"}]}}') +
  yaml.network('legacy', '{ipam: {config: [{subnet: 172.31.6.0/24}]}}') +
  yaml.container('web', '{networks: {front: {ipv6Address: "fd31:1::10"}, legacy: {}}}') +
  yaml.container('c1');

describe('network inspect on dual-stack networks', () => {
  it.each([
    ['with the manifests', true],
    ['from the kernel alone', false],
  ])('shows EnableIPv6, the IPv6 IPAM entry and IPv6Address (%s)', async (_name, withManifests) => {
    const w = new FakeWorld();
    await w.apply(manifests);
    const r = await w.apply(manifests);
    const nets = inspectNetworks({ observed: r.observed, ...(withManifests ? { topology: r.topology } : {}), predefined: predefinedNetworks(), created: {} });
    const net = (name: string) => nets.find((n) => n.Name === name);
    const container = (network: string, name: string) => Object.values(net(network)?.Containers ?? {}).find((c) => c.Name === name);

    expect(net('front')).toMatchObject({ EnableIPv6: true });
    expect(net('front')?.IPAM.Config).toEqual([
      { Subnet: '172.31.1.0/24', Gateway: '172.31.1.1' },
      { Subnet: 'fd31:1::/64', Gateway: 'fd31:1::1' },
    ]);
    expect(container('front', 'web')).toMatchObject({ IPv4Address: '172.31.1.2/24', IPv6Address: 'fd31:1::10/64' });
    // The default bridge with fixed-cidr-v6.
    expect(net('bridge')).toMatchObject({ EnableIPv6: true });
    expect(net('bridge')?.IPAM.Config).toContainEqual({ Subnet: 'fd30::/64', Gateway: 'fd30::1' });
    expect(container('bridge', 'c1')).toMatchObject({ IPv4Address: '172.17.0.2/16', IPv6Address: 'fd30::2/64' });
    // An IPv4-only network stays so.
    expect(net('legacy')).toMatchObject({ EnableIPv6: false });
    expect(container('legacy', 'web')).toMatchObject({ IPv6Address: '' });
  });
});
