import { describe, expect, it } from 'vitest';
import { buildGraph, DRIFT_COLOUR, renderDot, renderMermaid } from '../../../src/inspect/graph.js';
import { FakeWorld, yaml } from '../../support/world.js';

const manifests =
  yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') +
  yaml.container('container1', '{ports: ["8080:80/tcp"]}') +
  yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
  yaml.container('container3', '{networks: [isolated_nw]}');

async function graphOf(w: FakeWorld) {
  const r = await w.apply(manifests, { dryRun: true });
  return buildGraph({ topology: r.topology, plan: r.plan, hosts: [] });
}

describe('topology graph (fake kernel)', { timeout: 30_000 }, () => {
  it('before apply everything is missing; after, nothing drifts', async () => {
    const w = new FakeWorld();
    const before = await graphOf(w);
    expect(before.nodes.map((n) => `${n.id} ${n.drift}`)).toEqual([
      'net:bridge missing',
      'net:isolated_nw missing',
      'ctr:container1 missing',
      'ctr:container2 missing',
      'ctr:container3 missing',
    ]);
    await w.apply(manifests);
    const after = await graphOf(w);
    expect([...after.nodes, ...after.edges, ...after.hosts].every((x) => x.drift === 'ok')).toBe(true);
    expect(after.hosts).toEqual([{ name: 'h1', lines: ['this host'], drift: 'ok' }]);
    expect(after.nodes.find((n) => n.id === 'ctr:container1')?.lines).toEqual(['port 8080:80/tcp']);
    expect(after.nodes.find((n) => n.id === 'net:isolated_nw')?.lines).toEqual([expect.stringMatching(/^bridge br-[0-9a-f]{12}$/), '172.21.0.0/16']);
    expect(after.edges.map((e) => `${e.from} ${e.to} ${e.label}`)).toEqual([
      'ctr:container1 net:bridge eth0 172.17.0.2/16',
      'ctr:container2 net:bridge eth0 172.17.0.3/16',
      'ctr:container2 net:isolated_nw eth1 172.21.0.2/16',
      'ctr:container3 net:isolated_nw eth0 172.21.0.3/16',
    ]);
  });

  it('a flushed address marks that container and that endpoint only', async () => {
    const w = new FakeWorld();
    await w.apply(manifests);
    w.kernel.ns('h1-container3').addrs.length = 0;
    const g = await graphOf(w);
    expect(g.nodes.filter((n) => n.drift !== 'ok').map((n) => `${n.id} ${n.drift} ${n.lines.join('|')}`)).toEqual(['ctr:container3 differs drift: +address on isolated_nw']);
    expect(g.edges.filter((e) => e.drift !== 'ok').map((e) => `${e.from} ${e.to} ${e.drift}`)).toEqual(['ctr:container3 net:isolated_nw differs']);
    const dot = renderDot(g);
    expect(dot).toMatch(new RegExp(`^ {4}"ctr:container3" \\[.*color="${DRIFT_COLOUR.differs}"`, 'm'));
    const mermaid = renderMermaid(g);
    expect(mermaid).toMatch(/^ {2}class ctr\d+ differs$/m);
    expect(mermaid).toMatch(/^ {2}linkStyle 3 stroke:#d97706/m);
  });

  it('quotes names in dot and mermaid', () => {
    const g = { hosts: [{ name: 'h"1', lines: [], drift: 'ok' as const }], nodes: [{ id: 'ctr:a', kind: 'container' as const, name: 'a"b\\c', lines: ['<x>'], drift: 'ok' as const, host: 'h"1' }], edges: [] };
    expect(renderDot(g)).toContain('label="container a\\"b\\\\c\\n<x>"');
    expect(renderMermaid(g)).toContain('ctr0["container a#quot;b\\c<br/>&lt;x&gt;"]');
  });
});
