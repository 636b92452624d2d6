import { describe, expect, it } from 'vitest';
import { planLines } from '../../../src/reconcile/index.js';
import { FakeWorld, recordReads, yaml } from '../../support/world.js';

/**
 * The embedded DNS has sockets inside each container namespace (src/dns/ns-sockets.ts): no
 * nftables table and no route_localnet 1 per container. A host upgraded from the DNAT design
 * (table `ip weft_dns`, route_localnet 1 on the interface towards the gateway) converges.
 */

const walkthrough =
  yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') +
  yaml.container('container1') +
  yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
  yaml.container('container3', '{networks: [isolated_nw]}');

const TABLE = 'ip weft_dns';

/** The table an older weft left in a container namespace (its rules do not matter: all of it goes). */
const legacyTable = [
  { add: { table: { family: 'ip', name: 'weft_dns' } } },
  { add: { chain: { family: 'ip', table: 'weft_dns', name: 'output', type: 'nat', hook: 'output', prio: -100, policy: 'accept' } } },
];

describe('embedded DNS without a per-container table', () => {
  it('an apply makes no weft_dns table and keeps route_localnet 0 on DNS containers\' interfaces', async () => {
    const w = new FakeWorld();
    const r = await w.apply(walkthrough);
    const lines = planLines(r.plan, w.ctx.providers);
    expect(lines.filter((l) => l.includes('weft_dns'))).toEqual([]);
    for (const ns of ['h1-container1', 'h1-container2', 'h1-container3']) expect(w.kernel.ns(ns).nft.list(TABLE)).toBeNull();
    expect(w.kernel.ns('h1-container2').sysctls.get('net/ipv4/conf/eth0/route_localnet')).toBe('0');
    expect(w.kernel.ns('h1-container2').sysctls.get('net/ipv4/conf/eth1/route_localnet')).toBe('0');
    expect(w.kernel.ns('h1-container3').sysctls.get('net/ipv4/conf/eth0/route_localnet')).toBe('0');
    // The default bridge has no embedded DNS: nothing of the kind is desired there.
    expect(w.kernel.ns('h1-container1').sysctls.has('net/ipv4/conf/eth0/route_localnet')).toBe(false);
  });

  it('converges: a second apply plans and writes nothing', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    w.takeWrites();
    const again = await w.apply(walkthrough);
    expect(again.plan.changes).toEqual([]);
    expect(w.takeWrites()).toEqual([]);
  });

  it('a plan lists no table in container namespaces, except where route_localnet 1 says an old one may be there', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    const reads = recordReads(w.kernel);
    // Container namespaces read with a table listed, and those tables.
    const asked = () => reads.map((r) => ({ ns: r.ns.key, tables: (r.nftTables ?? []).map((t) => `${t.family} ${t.name}`) })).filter((a) => a.ns !== '@host' && a.tables.length > 0);
    await w.plan(walkthrough);
    expect(asked()).toEqual([]);
    w.kernel.tamper((k) => k.ns('h1-container3').sysctls.set('net/ipv4/conf/eth0/route_localnet', '1'));
    reads.length = 0;
    await w.plan(walkthrough);
    expect(asked()).toEqual([{ ns: 'h1-container3', tables: [TABLE] }]);
  });

  it('a host upgraded from the DNAT design converges: the old table goes, route_localnet returns to 0', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    w.kernel.tamper((k) => {
      k.ns('h1-container3').nft.apply(legacyTable);
      k.ns('h1-container3').sysctls.set('net/ipv4/conf/eth0/route_localnet', '1');
    });
    const plan = await w.plan(walkthrough);
    expect(plan.some((l) => l.startsWith('- nft table ip weft_dns in h1-container3'))).toBe(true);
    expect(plan.some((l) => l.includes('route_localnet') && l.includes('h1-container3'))).toBe(true);
    await w.apply(walkthrough);
    expect(w.kernel.ns('h1-container3').nft.list(TABLE)).toBeNull();
    expect(w.kernel.ns('h1-container3').sysctls.get('net/ipv4/conf/eth0/route_localnet')).toBe('0');
    expect(await w.plan(walkthrough)).toEqual([]);
  });
});
