import { afterEach, describe, expect, it } from 'vitest';
import type { PeerEndpoint } from '../../../src/compile/index.js';
import { builtinDrivers } from '../../../src/compile/index.js';
import { silentLogger } from '../../../src/log.js';
import { providers } from '../../../src/providers/index.js';
import type { DaemonOptions } from '../../../src/reconcile/index.js';
import { Daemon } from '../../../src/reconcile/index.js';
import { FakeKernel } from '../../support/fake-kernel.js';
import { FakeStore, MemoryCache } from '../../support/fake-store.js';
import { MemorySource } from '../../support/memory-source.js';
import { StoreRejections } from '../../../src/store/rejections.js';
import { until } from '../../support/wait.js';
import { yaml } from '../../support/world.js';

/**
 * The watch daemon with a membership store (--store) on the fake kernel: it programs the peers
 * other nodes published, publishes its own endpoints, reconciles when another node's endpoints
 * change, keeps the last known endpoints while the store does not answer, and withdraws on stop.
 * This daemon is node-2 in host namespace h2; node-1 publishes through the fake store.
 */

const hostDoc = (name: string, address: string) => `apiVersion: weft/v1\nkind: Host\nmetadata: {name: ${name}}\nspec: {address: ${address}}\n---\n`;
const shared =
  hostDoc('node-1', '192.168.77.1') +
  hostDoc('node-2', '192.168.77.2') +
  yaml.network('ovl', '{driver: overlay, ipam: {config: [{subnet: 10.0.9.0/24}]}}') +
  yaml.container('web1', '{host: node-1, networks: [ovl]}') +
  yaml.container('web2', '{host: node-2, networks: [ovl]}');

const fromNode1 = (container: string, last: number): PeerEndpoint => ({
  node: 'node-1',
  nodeAddress: '192.168.77.1',
  container,
  network: 'ovl',
  ipv4: `10.0.9.${last}/24`,
  mac: `02:42:0a:00:09:${last.toString(16).padStart(2, '0')}`,
  aliases: [],
});
const guest = { ...fromNode1('guest', 9), aliases: ['visitor'] };

const fast: Partial<DaemonOptions> = {
  resyncMs: 0,
  debounceMs: { manifest: 5, drift: 5, store: 5 },
  maxWaitMs: 100,
  writeGraceMs: 1,
  retryMs: { min: 10, max: 40 },
  storeTimeoutMs: 200,
};

function world(opts: { cache?: MemoryCache; text?: string; options?: Partial<DaemonOptions>; rejections?: StoreRejections } = {}) {
  const kernel = new FakeKernel('h2');
  const store = new FakeStore();
  const source = new MemorySource(opts.text ?? shared);
  const daemon = new Daemon({
    ctx: { kernel, log: silentLogger, hostNetns: 'h2', node: 'node-2', drivers: builtinDrivers, providers },
    source,
    store,
    ...(opts.cache ? { storeCache: opts.cache } : {}),
    ...(opts.rejections ? { storeRejections: opts.rejections } : {}),
    options: { ...fast, ...opts.options },
  });
  running.push(daemon);
  /** Neighbour entries the host has for remote containers on the overlay. */
  const neigh = () => kernel.ns('h2').neigh.map((n) => n.address).sort();
  /** Reconciles so far, by trigger. */
  const triggers = () => daemon.status().reconciles.converged + daemon.status().reconciles.applied;
  return { kernel, store, source, daemon, neigh, triggers };
}

let running: Daemon[] = [];
afterEach(async () => {
  await Promise.all(running.map((d) => d.stop()));
  running = [];
});

describe('watch daemon with a membership store', () => {
  it('programs what other nodes published and publishes its own endpoints under a kept lease', async () => {
    const w = world();
    w.store.put(guest);
    await w.daemon.start();
    expect(w.neigh()).toContain('10.0.9.9');
    expect(w.store.publications).toEqual([{ node: 'node-2', endpoints: ['web2'], keepAlive: true }]);
    const s = w.daemon.status();
    expect(s.ready).toBe(true);
    expect(s.store).toMatchObject({ url: 'etcd://store.test:2379', connected: true, remoteEndpoints: 1, lastPublish: { endpoints: 1 }, changes: 0 });
    const m = w.daemon.renderMetrics();
    expect(m).toMatch(/^weft_store_connected 1$/m);
    expect(m).toMatch(/^weft_store_remote_endpoints 1$/m);
    expect(m).toMatch(/^weft_store_published_endpoints 1$/m);
  });

  it('a hostile endpoint in the store is ignored and counted; valid endpoints keep being programmed around it', async () => {
    const w = world({ rejections: new StoreRejections(silentLogger) });
    w.store.put(guest);
    await w.daemon.start();
    expect(w.neigh()).toContain('10.0.9.9');
    // An intruder (not a declared Host) and a declared host with a MAC carrying a command.
    w.store.put({ ...fromNode1('intruder', 20), node: 'node-9', nodeAddress: '192.168.77.9' });
    w.store.put({ ...fromNode1('evil', 21), mac: '02:42:0a:00:09:15\nnetns exec x touch /tmp/proof' });
    w.store.put(fromNode1('other', 10));
    await until(() => w.neigh().includes('10.0.9.10'));
    await w.daemon.idle();
    expect(w.neigh()).not.toContain('10.0.9.20');
    expect(w.neigh()).not.toContain('10.0.9.21');
    expect(w.kernel.ns('h2').fdb.map((f) => f.dst)).not.toContain('192.168.77.9');
    expect(w.daemon.status()).toMatchObject({ ready: true, store: { rejected: { undeclared_host: 1, mac: 1 } } });
    const m = w.daemon.renderMetrics();
    expect(m).toMatch(/^weft_store_endpoints_rejected_total\{reason="undeclared_host"\} 1$/m);
    expect(m).toMatch(/^weft_store_endpoints_rejected_total\{reason="mac"\} 1$/m);
    // Read again at every reconcile, but counted once.
    await w.daemon.forceFull();
    await w.daemon.idle();
    expect(w.daemon.renderMetrics()).toMatch(/^weft_store_endpoints_rejected_total\{reason="mac"\} 1$/m);
  });

  it('a change by another node triggers a reconcile; its own publications do not', async () => {
    const w = world();
    await w.daemon.start();
    await w.daemon.idle();
    await new Promise((r) => setTimeout(r, 30));
    // The publication after the first reconcile came back on the watch: ignored.
    expect(w.triggers()).toBe(1);
    w.store.put(guest);
    await until(() => w.neigh().includes('10.0.9.9'));
    await w.daemon.idle();
    expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'applied', trigger: ['store'] });
    expect(w.daemon.status().store?.changes).toBe(1);
    // Nothing of this node changed: no second publication.
    expect(w.store.publications).toHaveLength(1);
    w.store.remove(FakeStore.key(guest));
    await until(() => !w.neigh().includes('10.0.9.9'));
    expect(w.daemon.renderMetrics()).toMatch(/^weft_store_changes_total 2$/m);
  });

  it('publishes again when its own endpoints change, and only then', async () => {
    const w = world();
    await w.daemon.start();
    await w.daemon.forceFull();
    await until(() => w.daemon.status().lastReconcile?.trigger.includes('signal') === true);
    await w.daemon.idle();
    expect(w.store.publications).toHaveLength(1);
    w.source.set(shared + yaml.container('web3', '{host: node-2, networks: [ovl]}'));
    await until(() => w.store.publications.length === 2);
    expect(w.store.publications[1]?.endpoints).toEqual(['web2', 'web3']);
  });

  it('publishes again when its lease is lost or someone deletes its keys', async () => {
    const w = world();
    await w.daemon.start();
    w.store.loseLease('node-2');
    await until(() => w.store.publications.length === 2);
    expect(w.store.entries.has(FakeStore.key({ node: 'node-2', network: 'ovl', container: 'web2' }))).toBe(true);
    w.store.remove(FakeStore.key({ node: 'node-2', network: 'ovl', container: 'web2' }));
    await until(() => w.store.publications.length === 3);
    expect(w.daemon.status().ready).toBe(true);
  });

  it('an unreachable store: keeps the last known endpoints, reports it, and catches up when it answers', async () => {
    const w = world();
    w.store.put(guest);
    w.store.put(fromNode1('other', 10));
    await w.daemon.start();
    expect(w.neigh()).toEqual(expect.arrayContaining(['10.0.9.10', '10.0.9.9']));
    w.store.setDown(true);
    await until(() => w.daemon.status().error?.kind === 'store');
    const s = w.daemon.status();
    expect(s.ready).toBe(false);
    expect(s.store).toMatchObject({ connected: false, remoteEndpoints: 2 });
    expect(s.error?.message).toContain('14 UNAVAILABLE');
    expect(w.daemon.renderMetrics()).toMatch(/^weft_store_connected 0$/m);
    // A full reconcile while the store is down keeps what it programmed for the peers...
    await w.daemon.forceFull();
    await until(() => w.daemon.status().lastReconcile?.trigger.includes('signal') === true);
    await w.daemon.idle();
    expect(w.daemon.status().lastReconcile?.result).toBe('converged');
    expect(w.neigh()).toEqual(expect.arrayContaining(['10.0.9.10', '10.0.9.9']));
    // ...and still repairs the kernel (drift does not wait for the store).
    w.kernel.ns('h2').neigh = w.kernel.ns('h2').neigh.filter((n) => n.address !== '10.0.9.9');
    await w.daemon.forceFull();
    await until(() => w.neigh().includes('10.0.9.9'));
    // Meanwhile node-1 withdrew "other" (the watch could not tell): seen once the store answers.
    w.store.entries.delete(FakeStore.key(fromNode1('other', 10)));
    const published = w.store.publications.length;
    w.store.setDown(false);
    await until(() => w.daemon.status().ready && !w.neigh().includes('10.0.9.10'));
    expect(w.neigh()).toContain('10.0.9.9');
    expect(w.daemon.status().store).toMatchObject({ connected: true, remoteEndpoints: 1 });
    expect(w.daemon.status().error).toBeNull();
    // Its lease may have expired meanwhile: it published again.
    expect(w.store.publications.length).toBeGreaterThan(published);
    expect(w.daemon.renderMetrics()).toMatch(/^weft_store_errors_total\{op="watch"\} [1-9]\d*$/m);
  });

  it('starts while the store is unreachable: programs the endpoints kept from the last run', async () => {
    const cache = new MemoryCache([guest]);
    const w = world({ cache });
    w.store.down = true;
    await w.daemon.start();
    expect(w.kernel.namespaces.has('h2-web2')).toBe(true);
    expect(w.neigh()).toContain('10.0.9.9');
    expect(w.daemon.status()).toMatchObject({ ready: false, error: { kind: 'store' }, store: { connected: false, cached: true, remoteEndpoints: 1 } });
    expect(w.store.publications).toEqual([]);
    w.store.entries.set(FakeStore.key(guest), guest);
    w.store.setDown(false);
    await until(() => w.daemon.status().ready);
    expect(w.store.publications).toHaveLength(1);
    expect(w.daemon.status().store?.cached).toBeUndefined();
  });

  it('without endpoints kept from a last run it applies the manifests alone until the store answers', async () => {
    const w = world();
    w.store.down = true;
    w.store.entries.set(FakeStore.key(guest), guest);
    await w.daemon.start();
    expect(w.kernel.namespaces.has('h2-web2')).toBe(true);
    expect(w.neigh()).not.toContain('10.0.9.9');
    expect(w.daemon.status().lastReconcile?.result).toBe('applied');
    w.store.setDown(false);
    await until(() => w.neigh().includes('10.0.9.9'));
    await until(() => w.daemon.status().ready);
  });

  it('keeps what it read for the next run', async () => {
    const cache = new MemoryCache();
    const w = world({ cache });
    w.store.put(guest);
    await w.daemon.start();
    await w.daemon.stop();
    expect(cache.endpoints?.map((e) => e.container)).toEqual(['guest']);
    expect(cache.saves).toBe(1);
  });

  it('a store that never answers holds a reconcile up for storeTimeoutMs at most', async () => {
    const w = world({ cache: new MemoryCache([guest]), options: { storeTimeoutMs: 50 } });
    w.store.silent = true;
    await w.daemon.start();
    expect(w.daemon.status().lastReconcile?.result).toBe('applied');
    expect(w.neigh()).toContain('10.0.9.9');
    expect(w.daemon.status().error?.message).toMatch(/no answer within 50 ms/);
  });

  it('stop withdraws the node from the store (revokes its lease)', async () => {
    const w = world();
    await w.daemon.start();
    expect(w.store.entries.size).toBe(1);
    await w.daemon.stop();
    expect(w.store.closes).toEqual([{ revoke: true }]);
    expect(w.store.entries.size).toBe(0);
  });
});
