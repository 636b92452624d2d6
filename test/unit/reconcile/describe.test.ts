import { describe, expect, it } from 'vitest';
import { colourLine, resultLines, useColour } from '../../../src/cli/output.js';
import type { ReconcileResult } from '../../../src/reconcile/index.js';
import { FakeWorld, yaml } from '../../support/world.js';

const isolated = yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}');
const walkthrough =
  isolated +
  yaml.container('container1') +
  yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
  yaml.container('container3', '{networks: [isolated_nw]}');

const lines = (r: ReconcileResult, verb: 'plan' | 'applied' = 'plan') => resultLines(r, { detail: false, verb });

describe('plan lines for people: one per declared object', { timeout: 30_000 }, () => {
  it('the walkthrough plan fits on one screen: a line per host, network and container, then the summary', async () => {
    const w = new FakeWorld();
    const r = await w.apply(walkthrough, { dryRun: true });
    const out = lines(r);
    expect(out.length).toBeLessThan(10);
    expect(out).toEqual([
      '+ host h1: firewall',
      expect.stringMatching(/^\+ network bridge: bridge docker0, gateway 172\.17\.0\.1\/16$/),
      expect.stringMatching(/^\+ network isolated_nw: bridge br-[0-9a-f]{12}, gateway 172\.21\.0\.1\/16$/),
      '+ container container1: network bridge',
      '+ container container2: network bridge, network isolated_nw',
      '+ container container3: network isolated_nw',
      `Plan: 6 to add, 0 to change, 0 to remove (${r.plan.changes.length} kernel objects)`,
    ]);
    // --detail is one line per kernel object, as before.
    expect(resultLines(r, { detail: true, verb: 'plan' })).toHaveLength(r.plan.changes.length);
    expect(r.plan.changes.length).toBeGreaterThan(50);
  });

  it('a converged system prints nothing', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    expect(lines(await w.apply(walkthrough, { dryRun: true }))).toEqual([]);
    expect(lines(await w.apply(walkthrough), 'applied')).toEqual([]);
  });

  it('a published port and a moved address name what changes in the container', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    const edited =
      isolated +
      yaml.container('container1', '{ports: ["8080:80/tcp"]}') +
      yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
      yaml.container('container3', '{networks: {isolated_nw: {ipv4Address: 172.21.0.99}}}');
    const r = await w.apply(edited);
    expect(lines(r, 'applied')).toEqual([
      '~ network bridge: +sysctl route_localnet',
      '~ container container1: ~hairpin, +port 8080/tcp',
      '~ container container3: ~address on isolated_nw, ~mac on isolated_nw, ~file hosts',
      `Applied: 0 added, 3 changed, 0 removed (${r.plan.changes.length} kernel objects)`,
    ]);
  });

  it('a container with many changes names six and counts the rest', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    // container3 moves to bridge (eth0), keeps isolated_nw as eth1 at a new address, publishes a port.
    const moved =
      isolated +
      yaml.container('container1') +
      yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
      yaml.container('container3', '{networks: {bridge: {}, isolated_nw: {ipv4Address: 172.21.0.9}}, ports: ["8080:80/tcp"]}');
    const line = lines(await w.apply(moved, { dryRun: true })).find((l) => l.startsWith('~ container container3: '));
    const items = line!.slice('~ container container3: '.length).split(', ');
    expect(items).toHaveLength(7);
    expect(items.at(-1)).toMatch(/^and \d+ more$/);
    expect(items).toContain('+port 8080/tcp');
  });

  it('a removed container is one "-" line with --prune, one "!" line without', async () => {
    const w = new FakeWorld();
    await w.apply(walkthrough);
    const without3 = isolated + yaml.container('container1') + yaml.container('container2', '{networks: [bridge, isolated_nw]}');
    expect(lines(await w.apply(without3, { dryRun: true }))).toEqual(['! container container3: no longer in the manifests; kept (remove it with --prune)']);
    const r = await w.apply(without3, { prune: true });
    expect(lines(r, 'applied')).toEqual([
      '- container container3',
      `Applied: 0 added, 0 changed, 1 removed (${r.plan.changes.length} kernel objects)`,
    ]);
  });
});

describe('colour', () => {
  it('only on a terminal, never with NO_COLOR or TERM=dumb', () => {
    expect(useColour({ isTTY: true }, {})).toBe(true);
    expect(useColour({ isTTY: false }, {})).toBe(false);
    expect(useColour({}, {})).toBe(false);
    expect(useColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColour({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
  });

  it('colours the sign only', () => {
    expect(colourLine('+ container a')).toBe('\x1b[32m+\x1b[0m container a');
    expect(colourLine('- container a')).toBe('\x1b[31m-\x1b[0m container a');
    expect(colourLine('Plan: 1 to add')).toBe('Plan: 1 to add');
  });
});
