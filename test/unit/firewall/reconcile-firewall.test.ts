import { describe, expect, it } from 'vitest';
import type { NftCommand, NftListed } from '../../../src/nft/index.js';
import { FakeWorld, yaml } from '../../support/world.js';

const TABLE = 'inet weft';

const base =
  yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') +
  yaml.container('container1') +
  yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
  yaml.container('container3', '{networks: [isolated_nw]}');
const withWeb = base + yaml.container('web', '{ports: ["8080:80"]}');

/** The nft commands of every transaction the fake kernel loaded since the last call. */
function nftCommands(w: FakeWorld): NftCommand[] {
  const out: NftCommand[] = [];
  const original = w.kernel.run.bind(w.kernel);
  w.kernel.run = async (p) => {
    out.push(...(p.host.nft as NftCommand[]));
    await original(p);
  };
  return out;
}

function listed(w: FakeWorld): NftListed[] {
  return w.kernel.ns('h1').nft.list(TABLE) ?? [];
}

describe('reconcile: the host firewall against the fake kernel', () => {
  it('loads the table in one transaction; a second apply plans nothing and writes nothing', async () => {
    const w = new FakeWorld();
    await w.apply(withWeb);
    const host = w.takeWrites().filter((l) => l.startsWith('[@host] nft'));
    expect(host).toHaveLength(1);
    const again = await w.apply(withWeb);
    expect(again.plan.changes).toEqual([]);
    expect(w.takeWrites()).toEqual([]);
  });

  it('adding a port adds two map elements and nothing else', async () => {
    const w = new FakeWorld();
    await w.apply(withWeb);
    const cmds = nftCommands(w);
    const more = base + yaml.container('web', '{ports: ["8080:80", "5353:53/udp"]}');
    expect(await w.plan(more)).toEqual([
      '+ nft element 0.0.0.0/0 . udp . 5353 : 172.17.0.4 in map pub_addr container web',
      '+ nft element 0.0.0.0/0 . udp . 5353 : 53 in map pub_port container web',
    ]);
    await w.apply(more);
    expect(cmds).toEqual([
      { add: { element: { family: 'inet', table: 'weft', name: 'pub_addr', elem: [[{ elem: { val: { concat: [{ prefix: { addr: '0.0.0.0', len: 0 } }, 'udp', 5353] }, comment: 'container:web' } }, '172.17.0.4']] } } },
      { add: { element: { family: 'inet', table: 'weft', name: 'pub_port', elem: [[{ elem: { val: { concat: [{ prefix: { addr: '0.0.0.0', len: 0 } }, 'udp', 5353] }, comment: 'container:web' } }, 53]] } } },
    ]);
    // And removing it deletes exactly those elements.
    cmds.length = 0;
    await w.apply(withWeb);
    expect(cmds.map((c) => Object.keys(c)[0])).toEqual(['delete', 'delete']);
    expect(await w.plan(withWeb)).toEqual([]);
  });

  it('puts back a rule deleted by hand, showing it in the plan first, without touching the others', async () => {
    const w = new FakeWorld();
    await w.apply(withWeb);
    w.kernel.ns('h1').nft.deleteRule(TABLE, 'forward', 'weft:isolate#');
    expect(await w.plan(withWeb)).toEqual(['+ nft rule isolate in inet weft forward host h1']);
    const cmds = nftCommands(w);
    await w.apply(withWeb);
    expect(cmds).toHaveLength(1);
    expect(cmds[0]).toMatchObject({ add: { rule: { chain: 'forward', comment: expect.stringMatching(/^weft:isolate#[0-9a-f]{8}$/) } } });
    expect(await w.plan(withWeb)).toEqual([]);
  });

  it('compares rules by name and digest, not by their listed form', async () => {
    const w = new FakeWorld();
    await w.apply(withWeb);
    // The fake lists rules as the kernel does: counters with values, an added nfproto match.
    const rule = (name: string) => JSON.stringify(listed(w).find((o) => 'rule' in o && o.rule.comment?.startsWith(`weft:${name}#`)));
    expect(rule('localnet')).toContain('nfproto');
    expect(rule('isolate')).toContain('"op":"!"');
    expect(await w.plan(withWeb)).toEqual([]);
  });

  it('replaces a rule whose digest differs (an older weft loaded it) and removes what weft did not put there', async () => {
    const w = new FakeWorld();
    await w.apply(withWeb);
    const rs = w.kernel.ns('h1').nft;
    const forward = rs.tables.get(TABLE)!.chains.get('forward')!;
    const icc = forward.rules.find((r) => r.comment?.startsWith('weft:icc#'))!;
    icc.comment = 'weft:icc#00000000';
    forward.rules.push({ family: 'inet', table: 'weft', chain: 'forward', handle: 999, expr: [{ drop: null }] });
    rs.apply([{ add: { element: { family: 'inet', table: 'weft', name: 'bridges', elem: ['eth9'] } } }]);
    expect(await w.plan(withWeb)).toEqual([
      '- nft rule handle 999 in inet weft forward host h1',
      '- nft rule icc in inet weft forward host h1',
      '- nft element eth9 in set bridges host h1',
      '+ nft rule icc in inet weft forward host h1',
    ]);
    await w.apply(withWeb);
    expect(await w.plan(withWeb)).toEqual([]);
    const rules = rs.tables.get(TABLE)!.chains.get('forward')!.rules;
    expect(rules.filter((r) => r.comment?.startsWith('weft:icc#'))).toHaveLength(1);
    expect(rules.some((r) => r.handle === 999)).toBe(false);
  });

  it('recreates a map and a chain whose definition changed, in one transaction the kernel accepts', async () => {
    const w = new FakeWorld();
    await w.apply(withWeb);
    const t = w.kernel.ns('h1').nft.tables.get(TABLE)!;
    delete t.sets.get('pub_addr')!.def.flags;
    t.chains.get('postrouting')!.def.prio = 50;
    expect(await w.plan(withWeb)).toEqual([
      '- nft chain postrouting in inet weft host h1',
      '- nft map pub_addr in inet weft host h1',
      '+ nft chain postrouting in inet weft host h1',
      '+ nft map pub_addr in inet weft host h1',
    ]);
    // The fake refuses to delete a map that rules use or a chain that has rules, as nft does.
    await w.apply(withWeb);
    expect(await w.plan(withWeb)).toEqual([]);
    const after = w.kernel.ns('h1').nft.tables.get(TABLE)!;
    expect(after.sets.get('pub_addr')!.def.flags).toEqual(['interval']);
    expect(after.sets.get('pub_addr')!.elems.size).toBe(1);
    expect(after.chains.get('postrouting')!.def.prio).toBe(100);
    expect(after.chains.get('postrouting')!.rules).toHaveLength(5);
  });

  it('recreates a table deleted by hand, and never touches other tables', async () => {
    const w = new FakeWorld();
    const rs = w.kernel.ns('h1').nft;
    rs.apply([
      { add: { table: { family: 'inet', name: 'filter' } } },
      { add: { chain: { family: 'inet', table: 'filter', name: 'input', type: 'filter', hook: 'input', prio: 0, policy: 'accept' } } },
    ]);
    await w.apply(withWeb);
    rs.apply([{ delete: { table: { family: 'inet', name: 'weft' } } }]);
    await w.apply(withWeb);
    expect(await w.plan(withWeb)).toEqual([]);
    expect(rs.tables.has('inet filter')).toBe(true);
    await w.destroy(withWeb);
    expect([...rs.tables.keys()]).toEqual(['inet filter']);
  });

  it('keeps an orphaned container\'s ports until --prune', async () => {
    const w = new FakeWorld();
    await w.apply(withWeb);
    const lines = await w.plan(base);
    expect(lines).toEqual(['! orphan netns h1-web container web: no longer in the manifests; remove with --prune']);
    await w.apply(base);
    expect(w.kernel.ns('h1').nft.elements(TABLE, 'pub_addr')).toHaveLength(1);
    await w.apply(base, { prune: true });
    expect(w.kernel.ns('h1').nft.elements(TABLE, 'pub_addr')).toHaveLength(0);
    expect(await w.plan(base, true)).toEqual([]);
  });

  it('leaves the firewall alone on a host without bridge networks, and keeps it for orphaned bridges until --prune', async () => {
    const w = new FakeWorld();
    const none = yaml.container('n', '{networks: [none]}');
    await w.apply(none);
    expect(w.kernel.ns('h1').nft.tables.size).toBe(0);
    expect(w.kernel.ns('h1').sysctls.size).toBe(0);
    await w.apply(none + withWeb);
    // Every bridge network leaves the manifests: its containers, bridges and firewall are orphans.
    // The default bridge (and so the firewall) stays while orphaned containers use it.
    const lines = await w.plan(none);
    expect(lines.filter((l) => !l.startsWith('! orphan'))).toEqual([]);
    expect(lines).toContain('! orphan bridge br-2f25e0bf894b network isolated_nw: no longer in the manifests; remove with --prune');
    await w.apply(none);
    expect(w.kernel.ns('h1').nft.tables.has(TABLE)).toBe(true);
    await w.apply(none, { prune: true });
    expect(w.kernel.ns('h1').nft.tables.size).toBe(0);
    expect(await w.plan(none, true)).toEqual([]);
  });

  it('destroy removes the table with the last network, and keeps it while others\' networks remain', async () => {
    const w = new FakeWorld();
    const other = yaml.network('other') + yaml.container('o', '{networks: [other]}');
    await w.apply(other);
    await w.apply(withWeb);
    await w.destroy(withWeb);
    const rs = w.kernel.ns('h1').nft;
    expect(rs.tables.has(TABLE)).toBe(true);
    expect(rs.elements(TABLE, 'pub_addr')).toEqual([]);
    expect(JSON.stringify(rs.elements(TABLE, 'bridges'))).toMatch(/^\[\{"elem":\{"val":"br-[0-9a-f]{12}","comment":"network:other"\}\}\]$/);
    await w.destroy(other);
    expect(rs.tables.has(TABLE)).toBe(false);
  });

  it('sets hairpin on the published endpoint\'s bridge port and repairs it', async () => {
    const w = new FakeWorld();
    await w.apply(withWeb);
    const host = w.kernel.ns('h1');
    const ports = [...host.links.values()].filter((l) => l.kind === 'veth');
    expect(ports.filter((l) => l.hairpin).map((l) => l.master)).toEqual(['docker0']);
    const web = ports.find((l) => l.hairpin)!;
    web.hairpin = false;
    expect(await w.plan(withWeb)).toEqual([`~ veth ${web.name} container web (hairpin: (none) -> true)`]);
    await w.apply(withWeb);
    expect(web.hairpin).toBe(true);
  });

  it('loads a ruleset for 50 networks whose rules stay fixed while elements grow linearly', async () => {
    const many = (n: number) => {
      let text = '';
      for (let i = 0; i < n; i++) {
        text += yaml.network(`net${i}`, `{ipam: {config: [{subnet: 10.${i}.0.0/24}]}}`);
        text += yaml.container(`c${i}`, `{networks: [net${i}], ports: ["${10000 + i}:80", "${20000 + i}:53/udp"]}`);
      }
      return text;
    };
    const size = async (n: number) => {
      const w = new FakeWorld();
      await w.apply(many(n));
      const l = listed(w);
      const rules = l.filter((o) => 'rule' in o).length;
      const elements = l.reduce((sum, o) => sum + ('set' in o ? (o.set.elem?.length ?? 0) : 'map' in o ? (o.map.elem?.length ?? 0) : 0), 0);
      return { n, rules, elements };
    };
    const [one, ten, fifty] = [await size(1), await size(10), await size(50)];
    expect(ten!.rules).toBe(one!.rules);
    expect(fifty!.rules).toBe(one!.rules);
    // Per network: bridges, same_bridge, masq_bridges; per container: 2 ports x 2 maps + self_hairpin.
    const perNetwork = one!.elements;
    expect(perNetwork).toBe(8);
    expect(ten!.elements).toBe(10 * perNetwork);
    expect(fifty!.elements).toBe(50 * perNetwork);
  });
});
