import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import type { PluginApplyContext, PluginPlanInput } from '../../../src/plugins/index.js';
import { RecordStore, applyPluginAdds, applyPluginDeletes, observedDrift, planPlugins, pluginPlanLines } from '../../../src/plugins/index.js';
import { FakeKernel } from '../../support/fake-kernel.js';
import { FakeRunner, attachment, madeNamespace, record } from '../../support/plugins.js';

describe('plugin phase', () => {
  let dir: string;
  let runner: FakeRunner;
  let ctx: PluginApplyContext;
  const input = (over: Partial<PluginPlanInput>): PluginPlanInput => ({
    attachments: [],
    records: [],
    namespaces: new Map(),
    prune: false,
    declaredContainers: new Set(['a', 'b']),
    ...over,
  });
  const run = async (over: Partial<PluginPlanInput>) => {
    const plan = await planPlugins(input(over), ctx.runners, ctx);
    const next = await applyPluginDeletes(plan, ctx);
    await applyPluginAdds(plan, next, ctx);
    return plan;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-phase-'));
    runner = new FakeRunner();
    ctx = { kernel: new FakeKernel('h1'), log: silentLogger, hostNetns: 'h1', store: new RecordStore(dir, 'h1'), runners: new Map([['cni', runner]]), now: () => new Date(0) };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('adds what has no record, records it, and plans nothing once the kernel shows it', async () => {
    const plan = await run({ attachments: [attachment('net', 'a')] });
    expect(pluginPlanLines(plan)).toEqual(['+ cni endpoint net/a (ADD)']);
    expect(runner.calls).toEqual(['ADD net/a', 'CHECK net/a']);
    const records = await ctx.store.list();
    expect(records.map((r) => [r.network, r.container, r.result.ips?.[0]?.address])).toEqual([['net', 'a', '10.88.0.2/24']]);
    const again = await planPlugins(input({ attachments: [attachment('net', 'a')], records, namespaces: new Map([['h1-a', madeNamespace()]]) }), ctx.runners, ctx);
    expect(again.changes).toEqual([]);
  });

  it('repairs (DEL then ADD) what the kernel lost, a changed declaration, a failed CHECK', async () => {
    const lost = madeNamespace();
    lost.routes = [];
    let plan = await run({ attachments: [attachment('net', 'a')], records: [record('net', 'a')], namespaces: new Map([['h1-a', lost]]) });
    expect(pluginPlanLines(plan)).toEqual(['~ cni endpoint net/a (DEL, ADD: route 0.0.0.0/0 is gone)']);
    expect(runner.calls).toEqual(['DEL net/a', 'ADD net/a', 'CHECK net/a']);
    plan = await planPlugins(input({ attachments: [attachment('net', 'a')], records: [record('net', 'a', { requestHash: 'old' })], namespaces: new Map([['h1-a', madeNamespace()]]) }), ctx.runners, ctx);
    expect(pluginPlanLines(plan)).toEqual(['~ cni endpoint net/a (DEL, ADD: the declaration changed)']);
    runner.badCheck.add('net');
    plan = await planPlugins(input({ attachments: [attachment('net', 'a')], records: [record('net', 'a')], namespaces: new Map([['h1-a', madeNamespace()]]) }), ctx.runners, ctx);
    expect(pluginPlanLines(plan)).toEqual(['~ cni endpoint net/a (DEL, ADD: CHECK failed: fake CHECK failed)']);
  });

  it('a CHECK failing right after ADD is a warning, never a repair loop', async () => {
    runner.badCheck.add('net');
    const first = await run({ attachments: [attachment('net', 'a')] });
    expect(first.warnings).toEqual([{ network: 'net', container: 'a', message: 'fake CHECK failed' }]);
    const records = await ctx.store.list();
    expect(records[0]?.checkWarning).toBe('fake CHECK failed');
    const again = await planPlugins(input({ attachments: [attachment('net', 'a')], records, namespaces: new Map([['h1-a', madeNamespace()]]) }), ctx.runners, ctx);
    expect(again.changes).toEqual([]);
    expect(pluginPlanLines(again)).toEqual(['! net/a: plugin CHECK fails right after ADD (kept, not repaired again): fake CHECK failed']);
  });

  it('a failing network fails alone, with its position; nothing is recorded for it', async () => {
    runner.failing.add('bad');
    const plan = await run({ attachments: [attachment('bad', 'a'), attachment('net', 'b')] });
    expect(plan.failures).toEqual([{ kind: 'cni', network: 'bad', container: 'a', pos: { file: 'm.yaml', line: 3, col: 15 }, message: 'ADD failed: fake ADD failed for bad' }]);
    expect((await ctx.store.list()).map((r) => r.network)).toEqual(['net']);
    // The network is left without endpoints: what its plugin made for it goes too.
    expect(runner.calls).toContain('GONE bad');
    expect(runner.calls).not.toContain('GONE net');
  });

  it('deletes records nothing asks for; orphans (undeclared containers) only with prune; destroy deletes its targets', async () => {
    for (const r of [record('net', 'a'), record('net', 'gone')]) await ctx.store.write(r);
    const records = await ctx.store.list();
    let plan = await planPlugins(input({ records }), ctx.runners, ctx);
    expect(pluginPlanLines(plan)).toEqual(['- cni endpoint net/a (DEL)']);
    expect(plan.orphans.map((r) => r.container)).toEqual(['gone']);
    plan = await run({ records, prune: true });
    expect(pluginPlanLines(plan)).toEqual(['- cni endpoint net/a (DEL)', '- cni endpoint net/gone (DEL)']);
    expect(await ctx.store.list()).toEqual([]);
    expect(runner.calls.filter((c) => c.startsWith('GONE'))).toEqual(['GONE net']);
    await ctx.store.write(record('net', 'a'));
    await ctx.store.write(record('other', 'x'));
    plan = await planPlugins(input({ records: await ctx.store.list(), destroy: { containers: new Set(['a']), networks: new Set() } }), ctx.runners, ctx);
    expect(pluginPlanLines(plan)).toEqual(['- cni endpoint net/a (DEL)']);
  });

  it('observes drift: the interface, an address of the result, a route of the result', () => {
    const rec = record('net', 'a');
    expect(observedDrift(rec, madeNamespace())).toBeUndefined();
    expect(observedDrift(rec, undefined)).toBe('the container namespace is not there');
    const noAddr = madeNamespace();
    noAddr.addresses = [];
    expect(observedDrift(rec, noAddr)).toBe('address 10.88.0.2/24 is not on eth0');
    const noLink = madeNamespace();
    noLink.links = [];
    expect(observedDrift(rec, noLink)).toBe('interface eth0 is gone');
  });
});
