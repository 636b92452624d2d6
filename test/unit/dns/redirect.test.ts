import { describe, expect, it } from 'vitest';
import { FakeWorld, yaml } from '../../support/world.js';

const walkthrough =
  yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') +
  yaml.container('container1') +
  yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
  yaml.container('container3', '{networks: [isolated_nw]}');

type Rule = { rule: { chain: string; comment: string; expr: Record<string, unknown>[] } };

describe('DNS redirect (127.0.0.11 -> gateway) as desired state', () => {
  it('user-defined networks get the redirect table and route_localnet; the default bridge does not', async () => {
    const w = new FakeWorld();
    const r = await w.apply(walkthrough);
    const lines = r.plan.changes.map((c) => `${c.domain} ${c.id}`);
    expect(lines).toContain('dnsRedirects h1-container2');
    expect(lines).toContain('dnsRedirects h1-container3');
    expect(lines).not.toContain('dnsRedirects h1-container1');
    // container2's DNS goes to isolated_nw's gateway (eth1), not the default bridge's.
    const c2 = w.kernel.ns('h1-container2');
    const rules = (c2.nft.get('ip weft_dns') ?? []).filter((o): o is Rule => 'rule' in (o as object));
    expect(rules.map((x) => x.rule.comment)).toEqual(['weft:dns-udp', 'weft:dns-tcp', 'weft:dns-masq']);
    expect(rules[0]?.rule.expr[2]).toEqual({ dnat: { addr: '172.21.0.1', port: 53 } });
    expect(c2.sysctls.get('net/ipv4/conf/eth1/route_localnet')).toBe('1');
    expect(w.kernel.ns('h1-container3').sysctls.get('net/ipv4/conf/eth0/route_localnet')).toBe('1');
    expect(w.kernel.ns('h1-container1').nft.size).toBe(0);
    // One write process per namespace still: the table loads with the interfaces and sysctls.
    expect(r.stats.processes).toBe(1 + 1 + 4 + 4);
  });

  it('converges: a second apply plans and writes nothing', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    w.takeWrites();
    const again = await w.apply(walkthrough);
    expect(again.plan.changes).toEqual([]);
    expect(w.takeWrites()).toEqual([]);
  });

  it('repairs drift: a deleted table comes back, an edited rule is replaced', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    w.kernel.tamper((k) => k.ns('h1-container3').nft.delete('ip weft_dns'));
    expect(await w.plan(walkthrough)).toEqual(['+ dns redirect 127.0.0.11:53 -> 172.21.0.1:53 in h1-container3 container container3']);
    await w.apply(walkthrough);
    w.kernel.tamper((k) => {
      const objs = k.ns('h1-container2').nft.get('ip weft_dns')!;
      k.ns('h1-container2').nft.set('ip weft_dns', objs.filter((o) => (o as Partial<Rule>).rule?.comment !== 'weft:dns-masq'));
    });
    expect(await w.plan(walkthrough)).toEqual(['~ dns redirect 127.0.0.11:53 -> 172.21.0.1:53 in h1-container2 container container2 (rules)']);
    await w.apply(walkthrough);
    expect(await w.plan(walkthrough)).toEqual([]);
  });

  it('a container that leaves its user-defined networks loses the table; one whose gateway changes gets the new one', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    const moved =
      yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') +
      yaml.network('other', '{ipam: {config: [{subnet: 172.22.0.0/16}]}}') +
      yaml.container('container1') +
      yaml.container('container2', '{networks: [bridge]}') +
      yaml.container('container3', '{networks: [other]}');
    const lines = await w.plan(moved);
    expect(lines).toContain('- dns redirect 127.0.0.11:53 -> 172.21.0.1:53 in h1-container2 container container2');
    expect(lines).toContain('~ dns redirect 127.0.0.11:53 -> 172.22.0.1:53 in h1-container3 container container3 (gateway: 172.21.0.1 -> 172.22.0.1, rules)');
    await w.apply(moved);
    expect(w.kernel.ns('h1-container2').nft.has('ip weft_dns')).toBe(false);
    expect(await w.plan(moved)).toEqual([]);
  });
});
