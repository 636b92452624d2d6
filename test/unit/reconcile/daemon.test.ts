import { afterEach, describe, expect, it } from 'vitest';
import type { KernelEvent, KernelProgram, KernelWatchHandlers } from '../../../src/kernel/index.js';
import { silentLogger } from '../../../src/log.js';
import { builtinDrivers } from '../../../src/compile/index.js';
import { providers } from '../../../src/providers/index.js';
import type { DaemonOptions } from '../../../src/reconcile/index.js';
import { Daemon } from '../../../src/reconcile/index.js';
import { FakeKernel } from '../../support/fake-kernel.js';
import { MemorySource } from '../../support/memory-source.js';
import { until as eventually } from '../../support/wait.js';
import { recordReads, yaml } from '../../support/world.js';

/** A fake kernel that can make something happen while weft writes (to test own-event suppression). */
class HookedKernel extends FakeKernel {
  duringRun: (() => void) | undefined;
  override async run(program: KernelProgram): Promise<void> {
    await super.run(program);
    this.duringRun?.();
  }
}

const base = yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') + yaml.container('c1') + yaml.container('c2', '{networks: [isolated_nw]}');

const fast: Partial<DaemonOptions> = { resyncMs: 0, debounceMs: { manifest: 5, drift: 5, store: 5 }, maxWaitMs: 100, writeGraceMs: 1, retryMs: { min: 10, max: 50 } };


function world(text = base, opts: Partial<DaemonOptions> = {}) {
  const kernel = new HookedKernel('h1');
  const source = new MemorySource(text);
  let handlers: KernelWatchHandlers | undefined;
  const nsIds = new Map([
    [1, 'h1-c1'],
    [2, 'h1-c2'],
    [3, 'h1-c3'],
    [7, 'someone-else'],
  ]);
  const daemon = new Daemon({
    ctx: { kernel, log: silentLogger, hostNetns: 'h1', drivers: builtinDrivers, providers },
    source,
    watchKernel: (h) => {
      handlers = h;
      return { stop: async () => undefined };
    },
    listNsIds: async () => nsIds,
    isOwnProcess: (pid) => pid === 4242,
    options: { ...fast, ...opts },
  });
  const event = (e: Partial<KernelEvent>) => handlers!.onEvent({ source: 'ip', object: 'address', nsid: null, deleted: true, line: 'x', ...e });
  return { kernel, source, daemon, event };
}

let running: Daemon[] = [];
afterEach(async () => {
  await Promise.all(running.map((d) => d.stop()));
  running = [];
});

async function started(w: ReturnType<typeof world>) {
  running.push(w.daemon);
  await w.daemon.start();
  return w;
}

describe('watch daemon on the fake kernel', () => {
  it('converges at start and reports it', async () => {
    const w = await started(world());
    expect(w.kernel.namespaces.has('h1-c1')).toBe(true);
    const s = w.daemon.status();
    expect(s.ready).toBe(true);
    expect(s.lastReconcile).toMatchObject({ result: 'applied', trigger: ['start'] });
    expect(s.owned).toMatchObject({ netns: 2, bridge: 2, veth: 2 });
    expect(s.source.revision).toMatch(/^sha256:/);
    expect(w.source.recorded).toEqual([s.source.revision]);
    expect(s.error).toBeNull();
  });

  it('applies a manifest edit', async () => {
    const w = await started(world());
    w.source.set(base + yaml.container('c3', '{networks: [isolated_nw]}'));
    await eventually(() => w.kernel.namespaces.has('h1-c3') && !w.daemon.status().lastReconcile?.trigger.includes('start'));
    await w.daemon.idle();
    expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'applied', trigger: ['manifest'], changes: expect.any(Number) });
    expect(w.daemon.status().drift.repairs).toBe(0);
  });

  it('repairs drift, re-reading only the namespace the event names', async () => {
    const w = await started(world());
    await w.daemon.idle();
    w.kernel.ns('h1-c1').addrs = [];
    const before = w.kernel.stats.processes;
    w.event({ nsid: 1 });
    await eventually(() => w.daemon.status().drift.repairs === 1);
    await w.daemon.idle();
    expect(w.kernel.ns('h1-c1').addrs.map((a) => a.local)).toEqual(['172.17.0.2']);
    // read h1-c1, write h1-c1, verify by reading h1-c1 again: the host and h1-c2 come from the cache
    expect(w.kernel.stats.processes - before).toBe(3);
    const s = w.daemon.status();
    expect(s.drift).toMatchObject({ events: 1, repairs: 1, repairedObjects: 1 });
    expect(s.lastReconcile).toMatchObject({ result: 'applied', trigger: ['drift'], summary: '+1 address' });
    expect(w.daemon.renderMetrics()).toContain('weft_drift_repairs_total 1');
  });

  it('a host event re-reads the host and repairs a downed bridge', async () => {
    const w = await started(world());
    w.kernel.ns('h1').links.get('docker0')!.up = false;
    w.event({ object: 'link', nsid: null, deleted: false });
    await eventually(() => w.kernel.ns('h1').links.get('docker0')!.up);
    await w.daemon.idle();
    expect(w.daemon.status().lastReconcile?.summary).toBe('~1 bridge');
  });

  describe('drift passes (only the namespaces events name, against the last full reconcile)', () => {
    /** The namespaces the daemon reads from the (fake) kernel from now on. */
    function readsOf(w: ReturnType<typeof world>): { keys(): Set<string> } {
      const reads = recordReads(w.kernel);
      return { keys: () => new Set(reads.map((r) => r.ns.key)) };
    }
    /** Deletes c1's veth pair as `ip link del` would: its addresses and routes go with it. */
    function deleteVethOf(w: ReturnType<typeof world>, ctr: string): string {
      const host = w.kernel.ns('h1');
      const veth = [...host.links.values()].find((l) => l.peer?.ns === `h1-${ctr}`)!;
      host.links.delete(veth.name);
      const c = w.kernel.ns(`h1-${ctr}`);
      c.links.delete(veth.peer!.name);
      c.addrs = c.addrs.filter((a) => a.dev !== veth.peer!.name);
      c.routes = c.routes.filter((r) => r.dev !== veth.peer!.name);
      return veth.peer!.name;
    }

    it('a veth deleted by hand, told by a host event alone: the repair reaches the container end and reads nothing else', async () => {
      const w = await started(world());
      await w.daemon.idle();
      const reads = readsOf(w);
      const ifname = deleteVethOf(w, 'c1');
      w.event({ object: 'link', nsid: null, deleted: true });
      await eventually(() => w.daemon.status().drift.repairs === 1);
      await w.daemon.idle();
      expect(w.kernel.ns('h1-c1').links.has(ifname)).toBe(true);
      expect(w.kernel.ns('h1-c1').addrs.map((a) => a.local)).toEqual(['172.17.0.2']);
      expect(w.kernel.ns('h1-c1').routes.some((r) => r.dst === 'default')).toBe(true);
      expect(reads.keys()).toEqual(new Set(['@host', 'h1-c1']));
      expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'applied', trigger: ['drift'] });
      // A full reconcile agrees: nothing left to do.
      await w.daemon.forceFull();
      await w.daemon.idle();
      expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'converged', trigger: ['signal'] });
    });

    it('a container namespace deleted by hand comes back whole, with its files', async () => {
      const w = await started(world());
      await w.daemon.idle();
      deleteVethOf(w, 'c2');
      w.kernel.namespaces.delete('h1-c2');
      w.event({ object: 'link', nsid: null, deleted: true });
      await eventually(() => w.kernel.namespaces.has('h1-c2') && w.daemon.status().drift.repairs === 1);
      await w.daemon.idle();
      expect(w.kernel.ns('h1-c2').addrs.map((a) => a.local)).toEqual(['172.21.0.2']);
      await w.daemon.forceFull();
      await w.daemon.idle();
      expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'converged' });
    });

    it('a drift pass that fails hands over to a full reconcile, which repairs', async () => {
      const w = await started(world());
      await w.daemon.idle();
      w.kernel.ns('h1-c1').addrs = [];
      w.kernel.failOn = { match: /addr add 172\.17\.0\.2/, message: 'RTNETLINK answers: Permission denied' };
      const cached = w.daemon.kernel.reads.cached;
      w.event({ nsid: 1 });
      await eventually(() => w.daemon.status().drift.repairs === 1);
      await w.daemon.idle();
      expect(w.kernel.ns('h1-c1').addrs.map((a) => a.local)).toEqual(['172.17.0.2']);
      // The full reconcile asked for every namespace (the host and h1-c2 from the cache); a drift pass asks for none it does not read.
      expect(w.daemon.kernel.reads.cached - cached).toBeGreaterThanOrEqual(2);
      expect(w.daemon.status()).toMatchObject({ ready: true, error: null, reconciles: { failed: 0 } });
    });

    it('drift during its own write is repaired by the same pass, without a full reconcile', async () => {
      const w = await started(world());
      await w.daemon.idle();
      w.kernel.ns('h1-c1').addrs = [];
      let once = true;
      w.kernel.duringRun = () => {
        // While weft writes h1-c1 (its events count as weft's own), someone sets the container end down.
        if (!once) return;
        once = false;
        w.kernel.ns('h1-c1').links.get('eth0')!.up = false;
      };
      const cached = w.daemon.kernel.reads.cached;
      w.event({ nsid: 1 });
      await eventually(() => w.daemon.status().drift.repairs === 1);
      await w.daemon.idle();
      expect(w.kernel.ns('h1-c1').links.get('eth0')!.up).toBe(true);
      expect(w.kernel.ns('h1-c1').addrs.map((a) => a.local)).toEqual(['172.17.0.2']);
      expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'applied', trigger: ['drift'], summary: '+1 address ~1 interface' });
      expect(w.daemon.kernel.reads.cached - cached).toBe(0);
      expect(w.daemon.status().reconciles.failed).toBe(0);
    });

    it('a manifest edit reads only the namespaces whose desired state changed; a full reconcile then finds nothing', async () => {
      const w = await started(world(base, { prune: true }));
      await w.daemon.idle();
      const reads = readsOf(w);
      // What the reconcile asks for, served from the cache or not (a full reconcile asks for every namespace).
      const asked = recordReads(w.daemon.kernel);
      // c3 joins isolated_nw: its namespace and the host (a veth on the bridge, firewall elements) change; c1 and c2 do not.
      w.source.set(base + yaml.container('c3', '{networks: [isolated_nw]}'));
      await eventually(() => w.kernel.namespaces.has('h1-c3') && w.daemon.status().lastReconcile?.trigger.includes('manifest') === true);
      await w.daemon.idle();
      expect(w.kernel.ns('h1-c3').addrs.map((a) => a.local)).toEqual(['172.21.0.3']);
      expect(reads.keys()).toEqual(new Set(['@host', 'h1-c3']));
      expect(new Set(asked.map((r) => r.ns.key))).toEqual(new Set(['@host', 'h1-c3']));
      await w.daemon.forceFull();
      await w.daemon.idle();
      expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'converged', trigger: ['signal'] });
      // Removed again (--prune): its namespace goes, and a full reconcile agrees.
      w.source.set(base);
      await eventually(() => !w.kernel.namespaces.has('h1-c3'));
      await w.daemon.idle();
      await w.daemon.forceFull();
      await w.daemon.idle();
      expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'converged', trigger: ['signal'] });
      expect(w.daemon.status().reconciles.failed).toBe(0);
    });

    it('an edit that moves a container to another network converges the same as a full reconcile would', async () => {
      const w = await started(world(base, { prune: true }));
      await w.daemon.idle();
      w.source.set(yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') + yaml.container('c1', '{networks: [isolated_nw]}') + yaml.container('c2', '{networks: [isolated_nw]}'));
      await eventually(() => w.kernel.ns('h1-c1').addrs.some((a) => a.local.startsWith('172.21.')));
      await w.daemon.idle();
      await w.daemon.forceFull();
      await w.daemon.idle();
      expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'converged', trigger: ['signal'] });
      expect(w.daemon.status().reconciles.failed).toBe(0);
    });

    it('a manifest edit after drift passes still converges (the baseline follows the edit)', async () => {
      const w = await started(world());
      await w.daemon.idle();
      w.kernel.ns('h1-c1').addrs = [];
      w.event({ nsid: 1 });
      await eventually(() => w.daemon.status().drift.repairs === 1);
      await w.daemon.idle();
      w.source.set(base + yaml.container('c3', '{networks: [isolated_nw]}'));
      await eventually(() => w.kernel.namespaces.has('h1-c3'));
      await w.daemon.idle();
      w.kernel.ns('h1-c3').addrs = [];
      w.event({ nsid: 3 });
      await eventually(() => w.kernel.ns('h1-c3').addrs.length === 1);
      await w.daemon.idle();
      await w.daemon.forceFull();
      await w.daemon.idle();
      expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'converged' });
    });
  });

  it('ignores events caused by its own writes and by its own nft processes', async () => {
    const w = world();
    w.kernel.duringRun = () => w.event({ object: 'link', nsid: null, deleted: false });
    await started(w);
    await w.daemon.idle();
    await new Promise((r) => setTimeout(r, 30));
    await w.daemon.idle();
    const s = w.daemon.status();
    expect(s.drift.ownEventsIgnored).toBeGreaterThan(0);
    expect(s.drift.events).toBe(0);
    expect(s.reconciles).toEqual({ converged: 0, applied: 1, failed: 0 });
    w.event({ source: 'nft', object: 'nft', pid: 4242 });
    await new Promise((r) => setTimeout(r, 30));
    expect(w.daemon.status().drift.events).toBe(0);
    w.event({ source: 'nft', object: 'nft', pid: 99 });
    await eventually(() => w.daemon.status().drift.events === 1);
  });

  it('during a write, an event in a namespace the write does not touch is still drift', async () => {
    const w = await started(world());
    await w.daemon.idle();
    w.kernel.ns('h1-c1').addrs = [];
    let injected = false;
    w.kernel.duringRun = () => {
      if (injected) return;
      injected = true;
      w.kernel.ns('h1-c2').addrs = []; // someone else, while weft repairs h1-c1
      w.event({ nsid: 2 });
    };
    w.event({ nsid: 1 });
    await eventually(() => w.kernel.ns('h1-c1').addrs.length === 1 && w.kernel.ns('h1-c2').addrs.length === 1);
    await w.daemon.idle();
    expect(w.daemon.status().drift).toMatchObject({ events: 2, repairs: 2 });
  });

  it('ignores events in namespaces that are not weft\'s, and kernel noise', async () => {
    const w = await started(world());
    w.event({ nsid: 7 });
    w.event({ object: 'route', line: '10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.2' });
    await new Promise((r) => setTimeout(r, 40));
    await w.daemon.idle();
    expect(w.daemon.status().drift.events).toBe(0);
    expect(w.daemon.status().reconciles.converged).toBe(0);
  });

  it('keeps the last good state when an edit is invalid, shows the error, recovers on a fix', async () => {
    const w = await started(world());
    const netnsBefore = [...w.kernel.namespaces.keys()].sort();
    w.source.set(base + yaml.container('c3', '{networks: [nowhere]}'));
    await eventually(() => w.daemon.status().error !== null);
    const s = w.daemon.status();
    expect(s.ready).toBe(false);
    expect(s.error).toMatchObject({ kind: 'manifest' });
    expect(s.error?.problems?.[0]).toMatch(/^net\.yaml:\d+:\d+: .*nowhere/);
    expect(s.source.skipped?.revision).toBe(s.source.latest);
    expect([...w.kernel.namespaces.keys()].sort()).toEqual(netnsBefore);
    // Drift is still repaired, towards the last good manifests.
    w.kernel.ns('h1-c1').addrs = [];
    w.event({ nsid: 1 });
    await eventually(() => w.kernel.ns('h1-c1').addrs.length === 1);
    w.source.set(base + yaml.container('c3', '{networks: [isolated_nw]}'));
    await eventually(() => w.daemon.status().ready && w.kernel.namespaces.has('h1-c3'));
    expect(w.daemon.status().error).toBeNull();
  });

  it('starts with invalid manifests: applies nothing and waits for a valid edit', async () => {
    const w = await started(world('apiVersion: weft/v1\nkind: Nonsense\n'));
    expect(w.kernel.namespaces.size).toBe(1);
    expect(w.daemon.status()).toMatchObject({ ready: false, error: { kind: 'manifest' } });
    expect(w.daemon.status().lastReconcile).toBeUndefined();
    w.source.set(base);
    await eventually(() => w.daemon.status().ready);
    expect(w.kernel.namespaces.has('h1-c2')).toBe(true);
  });

  it('a failed reconcile is reported and retried', async () => {
    const w = world();
    w.kernel.failOn = { match: /addr add 172\.21/, message: 'RTNETLINK answers: Permission denied' };
    await started(w);
    const s = w.daemon.status();
    expect(s.lastReconcile?.result).toBe('failed');
    expect(s.error).toMatchObject({ kind: 'reconcile' });
    expect(s.error?.message).toContain('Permission denied');
    expect(s.ready).toBe(false);
    await eventually(() => w.daemon.status().ready);
    expect(w.daemon.status().lastReconcile).toMatchObject({ result: 'applied', trigger: ['retry'] });
    expect(w.daemon.status().reconciles.failed).toBe(1);
  });

  it('forceFull (SIGHUP) re-reads everything', async () => {
    const w = await started(world());
    const before = w.kernel.stats.processes;
    await w.daemon.forceFull();
    await eventually(() => w.daemon.status().reconciles.converged === 1);
    // host + two containers read again, nothing written
    expect(w.kernel.stats.processes - before).toBe(3);
    expect(w.daemon.status().lastReconcile?.trigger).toEqual(['signal']);
  });

  it('updates the DNS server after every good reconcile and exports its counters', async () => {
    const updates: (string | undefined)[] = [];
    let closed = false;
    const w = world();
    const daemon = new Daemon({
      ctx: { kernel: w.kernel, log: silentLogger, hostNetns: 'h1', drivers: builtinDrivers, providers },
      source: w.source,
      dns: {
        update: (r, revision) => void updates.push(`${r.topology.containers.size} ${revision}`),
        queriesByRcode: () => ({ NOERROR: 7, NXDOMAIN: 1 }),
        close: async () => void (closed = true),
      },
      options: fast,
    });
    running.push(daemon);
    await daemon.start();
    expect(updates).toEqual([`2 ${daemon.status().source.revision}`]);
    w.source.set(base + yaml.container('c3'));
    await eventually(() => updates.length === 2);
    expect(updates[1]).toMatch(/^3 sha256:/);
    expect(daemon.status().dns).toEqual({ queries: { NOERROR: 7, NXDOMAIN: 1 } });
    expect(daemon.renderMetrics()).toContain('weft_dns_queries_total{rcode="NXDOMAIN"} 1');
    await daemon.stop();
    expect(closed).toBe(true);
  });

  it('stopped while starting: watches nothing and applies nothing', async () => {
    const w = world();
    const starting = w.daemon.start();
    await w.daemon.stop();
    await starting;
    expect(w.source.watching).toBe(0);
    expect(w.kernel.namespaces.size).toBe(1);
  });

  it('stop() waits for the reconcile under way and leaves the network in place', async () => {
    const w = await started(world());
    w.source.set(base + yaml.container('c3'));
    await new Promise((r) => setTimeout(r, 6));
    await w.daemon.stop();
    running = [];
    const n = w.kernel.namespaces.size;
    w.source.set(base + yaml.container('c4'));
    await new Promise((r) => setTimeout(r, 30));
    expect(w.kernel.namespaces.size).toBe(n);
    expect(w.kernel.namespaces.has('h1-c1')).toBe(true);
  });
});

// Issue 11 finding 12: events from namespaces with an nsid but no name (Docker's, CNI's) each ran
// `ip netns list-id` and forced a full reconcile.
describe('events from unnamed namespaces', () => {
  it('are ignored after one bounded lookup: no reconcile, no process per event', async () => {
    const w = world(base, { nsIdRefreshMs: 200 });
    let lookups = 0;
    const d = new Daemon({
      ctx: { kernel: w.kernel, log: silentLogger, hostNetns: 'h1', drivers: builtinDrivers, providers },
      source: w.source,
      watchKernel: (h) => {
        handlers = h;
        return { stop: async () => undefined };
      },
      listNsIds: async () => {
        lookups++;
        return new Map([[1, 'h1-c1']]);
      },
      options: { ...fast, nsIdRefreshMs: 200 },
    });
    let handlers: KernelWatchHandlers | undefined;
    running.push(d);
    await d.start();
    await d.idle();
    const before = { ...d.status().reconciles };
    const lookupsBefore = lookups;
    // A storm from two foreign namespaces: links coming and going.
    for (let i = 0; i < 500; i++) handlers!.onEvent({ source: 'ip', object: 'link', nsid: 40 + (i % 2), deleted: i % 3 === 0, line: `${i}: eth0@if9: <BROADCAST> mtu 1500` });
    await eventually(() => (d.status().drift.foreignEventsIgnored ?? 0) >= 2);
    for (let i = 0; i < 500; i++) handlers!.onEvent({ source: 'ip', object: 'link', nsid: 40 + (i % 2), deleted: false, line: `${i}: eth1: <UP> mtu 1500` });
    await new Promise((r) => setTimeout(r, 300));
    await d.idle();
    expect(lookups - lookupsBefore).toBe(1);
    expect(d.status().reconciles).toEqual(before);
    expect(d.status().drift.events).toBe(0);
    // An event in weft's own namespace is still drift.
    w.kernel.ns('h1-c1').addrs = [];
    handlers!.onEvent({ source: 'ip', object: 'address', nsid: 1, deleted: true, line: 'x' });
    await eventually(() => w.kernel.ns('h1-c1').addrs.length === 1);
  });

  it('a new weft namespace whose nsid was unknown is still found by the next lookup', async () => {
    const names = new Map<number, string>();
    const w = world(base, { nsIdRefreshMs: 50 });
    let handlers: KernelWatchHandlers | undefined;
    const d = new Daemon({
      ctx: { kernel: w.kernel, log: silentLogger, hostNetns: 'h1', drivers: builtinDrivers, providers },
      source: w.source,
      watchKernel: (h) => {
        handlers = h;
        return { stop: async () => undefined };
      },
      listNsIds: async () => new Map(names),
      options: { ...fast, nsIdRefreshMs: 50 },
    });
    running.push(d);
    await d.start();
    await d.idle();
    names.set(3, 'h1-c2');
    w.kernel.ns('h1-c2').addrs = [];
    handlers!.onEvent({ source: 'ip', object: 'address', nsid: 3, deleted: true, line: 'x' });
    await eventually(() => w.kernel.ns('h1-c2').addrs.length === 1);
  });
});
