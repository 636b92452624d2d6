import { describe, expect, it } from 'vitest';
import { allocateAddresses, allocateSubnets, dockerDefaultPools } from '../../../src/compile/ipam.js';
import type { Pool } from '../../../src/compile/ipam.js';
import { formatCidr, formatIp, parseCidr, parseIp } from '../../../src/net/cidr.js';
import { modelFromText } from '../../../src/model/index.js';
import { yaml } from '../../support/world.js';

const ip = (t: string) => parseIp(t)!.value;
function pool(subnet: string, range?: string): Pool {
  const s = parseCidr(subnet)!;
  const r = range ? parseCidr(range)! : s;
  return { subnet: s, gateway: s.base + 1n, range: r, reserved: new Set([s.base + 1n]) };
}

describe('allocateSubnets', () => {
  const nets = (text: string) => [...modelFromText([{ file: 'm', text }]).networks.values()].sort((a, b) => Number(b.predefined) - Number(a.predefined) || a.name.localeCompare(b.name));
  const req = (text: string, sticky: Record<string, string[]> = {}) =>
    nets(text).filter((n) => n.driver === 'bridge').map((n) => ({ network: n, defaults: dockerDefaultPools, sticky: sticky[n.name] ?? [] }));

  it('gives the default bridge 172.17/16 and user networks the next free /16, by name', () => {
    const { pools } = allocateSubnets(req(yaml.network('b') + yaml.network('a')), []);
    expect(formatCidr(pools.get('bridge')!.v4[0]!.subnet)).toBe('172.17.0.0/16');
    expect(formatCidr(pools.get('a')!.v4[0]!.subnet)).toBe('172.18.0.0/16');
    expect(formatCidr(pools.get('b')!.v4[0]!.subnet)).toBe('172.19.0.0/16');
  });

  it('skips declared subnets and the host\'s own routes', () => {
    const text = yaml.network('a') + yaml.network('z', '{ipam: {config: [{subnet: 172.18.0.0/16}]}}');
    const { pools } = allocateSubnets(req(text), ['172.19.5.0/24']);
    expect(formatCidr(pools.get('a')!.v4[0]!.subnet)).toBe('172.20.0.0/16');
  });

  it('keeps a sticky subnet when it does not collide', () => {
    const { pools } = allocateSubnets(req(yaml.network('a') + yaml.network('b'), { b: ['172.18.0.1/16'] }), []);
    expect(formatCidr(pools.get('b')!.v4[0]!.subnet)).toBe('172.18.0.0/16');
    expect(formatCidr(pools.get('a')!.v4[0]!.subnet)).toBe('172.19.0.0/16');
  });

  it('moves on to 192.168.x.0/20 when the 172 pools are used up, then reports exhaustion', () => {
    const text = Array.from({ length: 31 }, (_, i) => yaml.network(`n${String(i).padStart(2, '0')}`)).join('');
    const { pools, problems } = allocateSubnets(req(text), []);
    expect(formatCidr(pools.get('n13')!.v4[0]!.subnet)).toBe('172.31.0.0/16');
    expect(formatCidr(pools.get('n14')!.v4[0]!.subnet)).toBe('192.168.0.0/20');
    expect(formatCidr(pools.get('n29')!.v4[0]!.subnet)).toBe('192.168.240.0/20');
    expect(problems.map((p) => p.code)).toEqual(['POOLS_EXHAUSTED']);
  });

  it('derives a stable ULA /64 for IPv6 networks without an IPv6 subnet', () => {
    const a = allocateSubnets(req(yaml.network('v6', '{enableIPv6: true}')), []).pools.get('v6')!.v6[0]!;
    const b = allocateSubnets(req(yaml.network('v6', '{enableIPv6: true}')), []).pools.get('v6')!.v6[0]!;
    expect(formatCidr(a.subnet)).toMatch(/^fd[0-9a-f]{2}:[0-9a-f:]+\/64$/);
    expect(a.subnet.base).toBe(b.subnet.base);
  });
});

describe('allocateAddresses', () => {
  const show = (m: Map<string, { value: bigint }>) => Object.fromEntries([...m].map(([k, v]) => [k, formatIp(4, v.value)]));

  it('serves statics, then sticky, then the lowest free', () => {
    const { assigned } = allocateAddresses([pool('10.0.0.0/24')], [
      { key: 'a', sticky: [] },
      { key: 'b', sticky: [ip('10.0.0.7')] },
      { key: 'c', static: ip('10.0.0.2'), sticky: [] },
    ]);
    expect(show(assigned)).toEqual({ a: '10.0.0.3', b: '10.0.0.7', c: '10.0.0.2' });
  });

  it('gives a sticky address up when a static claims it', () => {
    const { assigned } = allocateAddresses([pool('10.0.0.0/24')], [
      { key: 'a', sticky: [ip('10.0.0.5')] },
      { key: 'b', static: ip('10.0.0.5'), sticky: [] },
    ]);
    expect(show(assigned)).toEqual({ a: '10.0.0.2', b: '10.0.0.5' });
  });

  it('allocates dynamically from ipRange only', () => {
    const { assigned } = allocateAddresses([pool('172.21.0.0/16', '172.21.5.0/24')], [{ key: 'a', sticky: [] }, { key: 'b', static: ip('172.21.0.9'), sticky: [] }]);
    expect(show(assigned)).toEqual({ a: '172.21.5.0', b: '172.21.0.9' });
  });

  it('reports what it cannot serve', () => {
    const { exhausted } = allocateAddresses([pool('10.0.0.0/30')], [{ key: 'a', sticky: [] }, { key: 'b', sticky: [] }]);
    expect(exhausted).toEqual(['b']);
  });
});
