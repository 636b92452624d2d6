import { describe, expect, it } from 'vitest';
import { FakeWorld, yaml } from '../../support/world.js';

const manifests =
  yaml.network('front', '{enableIPv6: true, ipam: {config: [{subnet: 172.31.1.0/24}, {subnet: "fd31:1::/64"}]}}') +
  yaml.container('web', '{networks: {front: {ipv6Address: "fd31:1::10"}}}') +
  yaml.container('old');

describe('IPv6 addresses usable at once (nodad, accept_dad=0, accept_ra=0)', () => {
  it('adds IPv6 addresses with nodad and IPv4 ones without; a second apply writes nothing', async () => {
    const w = new FakeWorld();
    await w.apply(manifests);
    const adds = w.takeWrites().filter((l) => l.includes(' ip addr add '));
    expect(adds.filter((l) => l.includes(':'))).toEqual([
      expect.stringMatching(/^\[@host\] ip addr add fd31:1::1\/64 dev \S+ nodad$/),
      expect.stringMatching(/^\[h1-web\] ip addr add fd31:1::10\/64 dev eth0 nodad$/),
    ]);
    expect(adds.filter((l) => !l.includes(':')).every((l) => !l.endsWith('nodad'))).toBe(true);
    expect((await w.apply(manifests)).plan.changes).toEqual([]);
    expect(w.takeWrites()).toEqual([]);
  });

  it('turns off DAD and router advertisements on a dual-stack interface before it comes up, only there', async () => {
    const w = new FakeWorld();
    await w.apply(manifests);
    const web = w.takeWrites().filter((l) => l.startsWith('[h1-web]'));
    const up = web.findIndex((l) => / ip link set dev eth0 .*\bup$/.test(l));
    expect(up).toBeGreaterThan(-1);
    for (const s of ['sysctl net/ipv6/conf/eth0/accept_dad=0', 'sysctl net/ipv6/conf/eth0/accept_ra=0']) {
      const at = web.indexOf(`[h1-web] ${s}`);
      expect(at, s).toBeGreaterThan(-1);
      expect(at, s).toBeLessThan(up);
    }
    expect([...w.kernel.ns('h1-old').sysctls.keys()].filter((k) => k.startsWith('net/ipv6'))).toEqual([]);
  });

  it('repairs drift: an address without nodad gets it back in place, a flipped accept_ra is reset', async () => {
    const w = new FakeWorld();
    await w.apply(manifests);
    const ns = w.kernel.ns('h1-web');
    const addr = ns.addrs.find((a) => a.local === 'fd31:1::10');
    expect(addr?.nodad).toBe(true);
    delete addr!.nodad;
    ns.sysctls.set('net/ipv6/conf/eth0/accept_ra', '1');
    expect(await w.plan(manifests)).toEqual([
      '~ address fd31:1::10/64 on eth0 in h1-web container web (nodad: (none) -> true)',
      '~ sysctl net.ipv6.conf.eth0.accept_ra=0 in h1-web container web (value: 1 -> 0)',
    ]);
    w.takeWrites();
    await w.apply(manifests);
    expect(w.takeWrites()).toEqual(['[h1-web] sysctl net/ipv6/conf/eth0/accept_ra=0', '[h1-web] ip addr replace fd31:1::10/64 dev eth0 nodad']);
    expect(ns.addrs.find((a) => a.local === 'fd31:1::10')?.nodad).toBe(true);
    expect(await w.plan(manifests)).toEqual([]);
  });
});
