import { describe, expect, it } from 'vitest';
import type { NftRule } from '../../../src/nft/index.js';
import { FakeWorld, yaml } from '../../support/world.js';

const walkthrough =
  yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') +
  yaml.container('container1') +
  yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
  yaml.container('container3', '{networks: [isolated_nw]}');

const TABLE = 'ip weft_dns';

function rules(w: FakeWorld, ns: string): NftRule[] {
  return (w.kernel.ns(ns).nft.list(TABLE) ?? []).flatMap((o) => ('rule' in o ? [o.rule] : []));
}

describe('DNS redirect (127.0.0.11 -> gateway) as desired state', () => {
  it('user-defined networks get the redirect table and route_localnet; the default bridge does not', async () => {
    const w = new FakeWorld();
    const r = await w.apply(walkthrough);
    const lines = (await import('../../../src/reconcile/index.js')).planLines(r.plan, w.ctx.providers);
    expect(lines).toContain('+ nft table ip weft_dns in h1-container3 container container3');
    expect(lines).toContain('+ nft rule dns-udp in ip weft_dns output in h1-container2 container container2');
    expect(lines.filter((l) => l.includes('h1-container1') && l.includes('weft_dns'))).toEqual([]);
    // container2's DNS goes to isolated_nw's gateway (eth1), not the default bridge's.
    const c2 = rules(w, 'h1-container2');
    expect(c2.map((x) => x.comment?.split('#')[0])).toEqual(['weft:dns-udp', 'weft:dns-tcp', 'weft:dns-masq', 'weft:localnet-saddr', 'weft:localnet-daddr']);
    expect(c2[0]?.expr[2]).toEqual({ dnat: { addr: '172.21.0.1', port: 53 } });
    // route_localnet comes with a drop of 127.0.0.0/8 from outside (finding 4), before conntrack.
    expect(c2[4]?.expr).toEqual([{ match: { op: '!=', left: { meta: { key: 'iifname' } }, right: 'lo' } }, { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { prefix: { addr: '127.0.0.0', len: 8 } } } }, { drop: null }]);
    const pre = (w.kernel.ns('h1-container2').nft.list(TABLE) ?? []).flatMap((o) => ('chain' in o && o.chain.name === 'prerouting' ? [o.chain] : []));
    expect(pre).toMatchObject([{ type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' }]);
    expect(w.kernel.ns('h1-container2').sysctls.get('net/ipv4/conf/eth1/route_localnet')).toBe('1');
    expect(w.kernel.ns('h1-container3').sysctls.get('net/ipv4/conf/eth0/route_localnet')).toBe('1');
    expect(w.kernel.ns('h1-container1').nft.list(TABLE)).toBeNull();
  });

  it('converges: a second apply plans and writes nothing', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    w.takeWrites();
    const again = await w.apply(walkthrough);
    expect(again.plan.changes).toEqual([]);
    expect(w.takeWrites()).toEqual([]);
  });

  it('repairs drift: a deleted table comes back, a deleted rule is put back', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    w.kernel.tamper((k) => k.ns('h1-container3').nft.tables.delete(TABLE));
    const plan = await w.plan(walkthrough);
    expect(plan).toContain('+ nft table ip weft_dns in h1-container3 container container3');
    expect(plan).toContain('+ nft rule dns-masq in ip weft_dns postrouting in h1-container3 container container3');
    await w.apply(walkthrough);
    w.kernel.tamper((k) => k.ns('h1-container2').nft.deleteRule(TABLE, 'postrouting', 'weft:dns-masq'));
    expect(await w.plan(walkthrough)).toEqual(['+ nft rule dns-masq in ip weft_dns postrouting in h1-container2 container container2']);
    await w.apply(walkthrough);
    expect(await w.plan(walkthrough)).toEqual([]);
    expect(rules(w, 'h1-container2')).toHaveLength(5);
  });

  it('a container that leaves its user-defined networks loses the table; one whose gateway changes gets new rules', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    const moved =
      yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') +
      yaml.network('other', '{ipam: {config: [{subnet: 172.22.0.0/16}]}}') +
      yaml.container('container1') +
      yaml.container('container2', '{networks: [bridge]}') +
      yaml.container('container3', '{networks: [other]}');
    const lines = await w.plan(moved);
    expect(lines).toContain('- nft table ip weft_dns in h1-container2 container container2');
    expect(lines).toContain('- nft rule dns-udp in ip weft_dns output in h1-container3 container container3');
    expect(lines).toContain('+ nft rule dns-udp in ip weft_dns output in h1-container3 container container3');
    await w.apply(moved);
    expect(w.kernel.ns('h1-container2').nft.list(TABLE)).toBeNull();
    expect(rules(w, 'h1-container3')[0]?.expr[2]).toEqual({ dnat: { addr: '172.22.0.1', port: 53 } });
    expect(await w.plan(moved)).toEqual([]);
  });

  it('a removed container\'s table goes with its namespace (no nft command of its own)', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    w.takeWrites();
    const without3 = walkthrough.slice(0, walkthrough.lastIndexOf('---\napiVersion: weft/v1\nkind: Container\nmetadata: {name: container3}'));
    const r = await w.apply(without3, { prune: true });
    expect(r.plan.changes.some((c) => c.domain === 'nftables' && c.id.startsWith('h1-container3/') && c.implied)).toBe(true);
    expect(w.takeWrites().filter((l) => l.includes('h1-container3') && l.includes('nft'))).toEqual([]);
    expect(w.kernel.namespaces.has('h1-container3')).toBe(false);
  });
});
