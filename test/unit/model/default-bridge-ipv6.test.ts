import { describe, expect, it } from 'vitest';
import { formatCidr } from '../../../src/net/cidr.js';
import { modelFromText } from '../../../src/model/index.js';
import { FakeWorld, manifestProblems, yaml } from '../../support/world.js';

/** Problems as the CLI prints them (file:line:col: message; hint [CODE]). */
const messages = (text: string) => manifestProblems(text);

// Docker's daemon.json {"ipv6": true, "fixed-cidr-v6": "fd30::/64"}, as a declaration of `bridge`.
const fixedCidrV6 = yaml.network('bridge', '{enableIPv6: true, ipam: {config: [{subnet: "fd30::/64"}]}}');

describe('the default bridge with IPv6 (Docker\'s ipv6 and fixed-cidr-v6)', () => {
  it('declaring only the IPv6 subnet keeps 172.17.0.0/16, as the daemon keeps its bip', () => {
    const bridge = modelFromText([{ file: 'm.yaml', text: fixedCidrV6 }]).networks.get('bridge');
    expect(bridge?.pools.map((p) => formatCidr(p.subnet))).toEqual(['172.17.0.0/16', 'fd30::/64']);
    expect(bridge?.enableIPv6).toBe(true);
  });

  it('gives containers on the default bridge an address of each family and a default route of each', async () => {
    const w = new FakeWorld();
    await w.apply(fixedCidrV6 + yaml.container('c1'));
    const writes = w.takeWrites();
    expect(writes).toContain('[@host] ip addr add fd30::1/64 dev docker0 nodad');
    expect(writes).toContain('[h1-c1] ip addr add 172.17.0.2/16 dev eth0');
    expect(writes).toContain('[h1-c1] ip addr add fd30::2/64 dev eth0 nodad');
    expect(writes).toContain('[h1-c1] ip route replace ::/0 via fd30::1 dev eth0 proto 250');
    expect((await w.apply(fixedCidrV6 + yaml.container('c1'))).plan.changes).toEqual([]);
  });

  it('an IPv6 subnet without enableIPv6 is an error at the subnet', () => {
    expect(messages(yaml.network('bridge', '{ipam: {config: [{subnet: "fd30::/64"}]}}'))).toEqual([
      'm.yaml:4:33: network "bridge": IPv6 subnet fd30::/64 on a network without IPv6; set spec.enableIPv6: true or remove the subnet [IPV6_DISABLED]',
    ]);
  });

  it('an overlap with the kept IPv4 pool or the IPv6 one points into the manifests', () => {
    const clash = yaml.network('front', '{ipam: {config: [{subnet: 172.17.5.0/24}]}}');
    expect(messages(fixedCidrV6 + clash)).toEqual([
      'm.yaml:9:33: network "front": subnet 172.17.5.0/24 overlaps network "bridge" (172.17.0.0/16); choose another subnet [SUBNET_OVERLAP]',
    ]);
    const clash6 = yaml.network('front', '{enableIPv6: true, ipam: {config: [{subnet: "fd30::/80"}]}}');
    expect(messages(fixedCidrV6 + clash6)).toEqual([
      'm.yaml:9:51: network "front": subnet fd30::/80 overlaps network "bridge" (fd30::/64); choose another subnet [SUBNET_OVERLAP]',
    ]);
  });
});
