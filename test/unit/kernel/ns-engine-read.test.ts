import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NsEngine } from '../../../src/kernel/inproc/ns-engine.js';

// Reads this thread's own namespace through rtnetlink and /proc/sys (read-only, no privileges, no
// setns): the engine behind the in-process kernel's worker.
describe('NsEngine.read of its own namespace', () => {
  it('reads links, addresses and routes, sysctls whole, and a missing one as null', () => {
    const engine = new NsEngine();
    const paths = ['kernel/pid_max', 'net/ipv4/ip_local_port_range', 'kernel/ostype', 'net/ipv4/conf/no-such-if/forwarding'];
    const snap = engine.read(null, { sysctls: paths });
    expect(snap?.sysctls).toEqual({
      'kernel/pid_max': readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim(),
      'net/ipv4/ip_local_port_range': readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim(),
      'kernel/ostype': 'Linux',
      'net/ipv4/conf/no-such-if/forwarding': null,
    });
    expect(snap?.links.find((l) => l.name === 'lo')).toMatchObject({ mac: '00:00:00:00:00:00', mtu: 65536 });
    const devs = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.trim().split(':')[0]).filter(Boolean).sort();
    expect(snap?.links.map((l) => l.name).sort()).toEqual(devs);
  });

  it('refuses a sysctl path that leaves /proc/sys', () => {
    expect(() => new NsEngine().read(null, { sysctls: ['../../etc/shadow'] })).toThrow(/not a sysctl path/);
  });
});
