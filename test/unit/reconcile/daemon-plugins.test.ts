import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinDrivers } from '../../../src/compile/index.js';
import { silentLogger } from '../../../src/log.js';
import { RecordStore } from '../../../src/plugins/index.js';
import { providers } from '../../../src/providers/index.js';
import { Daemon } from '../../../src/reconcile/index.js';
import { FakeKernel } from '../../support/fake-kernel.js';
import { MemorySource } from '../../support/memory-source.js';
import { FakeRunner } from '../../support/plugins.js';
import { until as eventually } from '../../support/wait.js';
import { yaml } from '../../support/world.js';

const text =
  yaml.network('good', '{driver: cni, cni: {conflist: good}}') +
  yaml.network('bad', '{driver: cni, cni: {conflist: bad}}') +
  yaml.container('a', '{networks: [good]}') +
  yaml.container('b', '{networks: [bad]}');

describe('watch daemon with a failing plugin', () => {
  let dir: string | undefined;
  let daemon: Daemon | undefined;
  afterEach(async () => {
    await daemon?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('converges the rest, shows the network as pending, retries with backoff and clears it once the plugin works', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-dplug-'));
    const runner = new FakeRunner();
    runner.failing.add('bad');
    const store = new RecordStore(dir, 'h1');
    daemon = new Daemon({
      ctx: { kernel: new FakeKernel('h1'), log: silentLogger, hostNetns: 'h1', drivers: builtinDrivers, providers, plugins: { runners: new Map([['cni', runner]]), store } },
      source: new MemorySource(text),
      watchKernel: () => ({ stop: async () => undefined }),
      listNsIds: async () => new Map(),
      isOwnProcess: () => false,
      options: { resyncMs: 0, debounceMs: { manifest: 5, drift: 5, store: 5 }, maxWaitMs: 100, writeGraceMs: 1, retryMs: { min: 20, max: 200 } },
    });
    await daemon.start();
    const s = daemon.status();
    expect(s.plugins?.pending).toEqual([expect.objectContaining({ network: 'bad', container: 'b', message: 'ADD failed: fake ADD failed for bad' })]);
    expect((await store.list()).map((r) => r.network)).toEqual(['good']);
    expect(daemon.renderMetrics()).toMatch(/^weft_plugin_pending_endpoints 1$/m);
    // Retried without any event: ADD for "bad" runs again.
    await eventually(() => runner.calls.filter((c) => c === 'ADD bad/b').length >= 3);
    runner.failing.delete('bad');
    await eventually(() => daemon!.status().plugins === undefined);
    expect((await store.list()).map((r) => r.network)).toEqual(['bad', 'good']);
  });
});
