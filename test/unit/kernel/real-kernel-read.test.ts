import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RealKernel } from '../../../src/kernel/index.js';
import { silentLogger } from '../../../src/log.js';

// Reads this process's own namespace (read-only, no privileges needed): checks the read script's
// sysctl part against the files themselves. /proc/sys files cannot be read byte by byte (the
// shell's read builtin gets only the first byte), so this guards the way they are read.
describe('RealKernel.readNamespaces', () => {
  it('reads sysctls whole, and a missing one as null', async () => {
    const kernel = new RealKernel({ log: silentLogger });
    const paths = ['kernel/pid_max', 'net/ipv4/ip_local_port_range', 'kernel/ostype', 'net/ipv4/conf/no-such-if/forwarding'];
    const snap = (await kernel.readNamespaces([{ ns: { key: 'self', path: null }, sysctls: paths }])).get('self');
    expect(snap?.sysctls).toEqual({
      'kernel/pid_max': readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim(),
      'net/ipv4/ip_local_port_range': readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim(),
      'kernel/ostype': 'Linux',
      'net/ipv4/conf/no-such-if/forwarding': null,
    });
    expect(snap?.links.some((l) => l.name === 'lo')).toBe(true);
  });
});
