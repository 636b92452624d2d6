import { describe, expect, it } from 'vitest';
import { allocateAddresses } from '../../../src/compile/ipam.js';
import type { Pool } from '../../../src/compile/ipam.js';
import { formatIp, parseCidr, parseIp } from '../../../src/net/cidr.js';

function pool(subnet: string): Pool {
  const s = parseCidr(subnet)!;
  return { subnet: s, gateway: s.base + 1n, range: s, reserved: new Set([s.base + 1n]) };
}
const req = (keys: string[]) => keys.map((key) => ({ key, sticky: [] as bigint[] }));
const names = Array.from({ length: 40 }, (_, i) => `c${i}`);

function spread(p: Pool, keys: string[], seed = 'ovl'): Map<string, string> {
  const { assigned } = allocateAddresses([p], req(keys), { spread: seed });
  return new Map([...assigned].map(([k, v]) => [k, formatIp(4, v.value)]));
}

describe('allocateAddresses with spread (global networks)', () => {
  it('is a function of the names alone, whatever their order', () => {
    const a = spread(pool('10.0.9.0/24'), names);
    const b = spread(pool('10.0.9.0/24'), [...names].reverse());
    expect(b).toEqual(a);
    expect(new Set(a.values()).size).toBe(names.length);
    for (const v of a.values()) expect(v).not.toMatch(/^10\.0\.9\.(0|1|255)$/);
  });

  it('moves no other container when one is removed or added (in a sparse range)', () => {
    const p = pool('10.0.0.0/16');
    const all = spread(p, names);
    const without = spread(p, names.filter((n) => n !== 'c7'));
    const withMore = spread(p, [...names, 'new1', 'new2']);
    for (const n of names.filter((x) => x !== 'c7')) {
      expect(without.get(n)).toBe(all.get(n));
      expect(withMore.get(n)).toBe(all.get(n));
    }
  });

  it('takes the next free address when slots collide, and fills a full range exactly', () => {
    const p = pool('10.0.9.0/29'); // 5 usable addresses besides the gateway
    const five = spread(p, ['a', 'b', 'c', 'd', 'e']);
    expect([...five.values()].sort()).toEqual(['10.0.9.2', '10.0.9.3', '10.0.9.4', '10.0.9.5', '10.0.9.6']);
    const { exhausted } = allocateAddresses([p], req(['a', 'b', 'c', 'd', 'e', 'f']), { spread: 'ovl' });
    expect(exhausted).toHaveLength(1);
  });

  it('honours statics and sticky addresses first', () => {
    const p = pool('10.0.9.0/24');
    const first = spread(p, ['x']).get('x')!;
    const { assigned } = allocateAddresses([p], [{ key: 'y', static: parseIp(first)!.value, sticky: [] }, { key: 'x', sticky: [] }], { spread: 'ovl' });
    expect(formatIp(4, assigned.get('y')!.value)).toBe(first);
    expect(formatIp(4, assigned.get('x')!.value)).not.toBe(first);
  });
});
