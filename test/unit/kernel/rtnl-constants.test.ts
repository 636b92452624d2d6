import { describe, expect, it } from 'vitest';
import { IFLA, MON, NFT, NL, RTA } from '../../../src/kernel/inproc/rtnl-constants.js';
import { RTNETLINK_HEADERS, readHeaderConstants } from '../../support/kernel-headers.js';

const headers = readHeaderConstants([...RTNETLINK_HEADERS, '/usr/include/linux/netfilter/nfnetlink.h', '/usr/include/linux/netfilter/nf_tables.h']);

// The codec's numbers are the ABI: each one must be the header's.
describe.skipIf(headers.size === 0)('rtnetlink constants', () => {
  it('match /usr/include/linux', () => {
    const ours = { ...NL, ...IFLA, ...RTA, ...MON, ...NFT };
    const wrong = Object.entries(ours).filter(([name, v]) => headers.get(name) !== v).map(([name, v]) => `${name}: ours ${v}, header ${String(headers.get(name))}`);
    expect(wrong).toEqual([]);
    expect(Object.keys(ours).length).toBeGreaterThan(80);
  });
});
