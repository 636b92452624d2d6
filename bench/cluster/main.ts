import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadAverage } from '../lib/machine.js';
import { killAll } from '../lib/proc.js';
import type { ClusterOptions, StoreKind } from './cluster.js';
import { Cluster, repoRoot } from './cluster.js';
import { addToReachable, atRest, fastArp, fdbCounts, fdbFollow, percentile, spread, storeMark, storeSince } from './measure.js';

/**
 * npm run bench:cluster [-- --hosts 50 --containers 10 --networks 3 --tries 20 --store etcd|zk --ttl 10 --rest 60]
 *
 * Builds the simulated cluster (bench/cluster/cluster.ts), measures, prints a markdown table and
 * writes the raw numbers to bench/results/cluster-<store>-N<hosts>.json. Self-cleaning: every
 * namespace, process and file it made goes at the end, on an error and on Ctrl-C.
 */

const { values: a } = parseArgs({
  options: {
    hosts: { type: 'string', default: '50' },
    containers: { type: 'string', default: '10' },
    networks: { type: 'string', default: '3' },
    tries: { type: 'string', default: '20' },
    store: { type: 'string', default: 'etcd' },
    ttl: { type: 'string', default: '10' },
    rest: { type: 'string', default: '60' },
    resync: { type: 'string', default: '60s' },
    batch: { type: 'string', default: '5' },
  },
});

const t00 = Date.now();
const log = (m: string) => console.error(`[cluster +${((Date.now() - t00) / 1000).toFixed(0)}s] ${m}`);
const opts: ClusterOptions = {
  hosts: Number(a.hosts),
  containers: Number(a.containers),
  networks: Number(a.networks),
  store: a.store as StoreKind,
  ttl: Number(a.ttl),
  resync: a.resync!,
  startBatch: Number(a.batch),
  log,
};
if (opts.store !== 'etcd' && opts.store !== 'zk') throw new Error('--store etcd or zk');
const tries = Math.min(200, Number(a.tries));
const restSeconds = Number(a.rest);
const TIMEOUT = 30_000;

const cluster = await Cluster.create(opts);
let cleaning: Promise<void> | undefined;
const cleanup = () => (cleaning ??= cluster.cleanup().finally(() => killAll()));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  const load0 = await loadAverage();
  log(`building ${opts.hosts} hosts x ${opts.containers} containers on ${opts.networks} overlays, store ${opts.store} (prefix ${cluster.prefix})`);
  await cluster.build();
  const tStart = Date.now();
  await cluster.startAll();
  const remote = (opts.hosts - 1) * opts.containers;
  await Promise.all(cluster.hosts.map((h) => cluster.waitReady(h, 600_000, remote)));
  const converged = Date.now() - tStart;
  log(`every daemon ready with ${remote} remote endpoints after ${converged} ms`);
  await fastArp(cluster);

  log(`at rest for ${restSeconds} s`);
  const rest = await atRest(cluster, restSeconds);

  log(`add-to-reachable, ${tries} tries`);
  const addMark = await storeMark(cluster);
  const adds: { host: string; p50: number; all: number; missed: number }[] = [];
  for (let t = 0; t < tries; t++) {
    const on = cluster.hosts[(t * 7 + 3) % cluster.hosts.length]!;
    const times = await addToReachable(cluster, on, t, TIMEOUT);
    const s = spread(times, TIMEOUT);
    adds.push({ host: on.node, p50: s.p50, all: s.max, missed: s.missed });
    log(`  try ${t + 1}: ${on.node} +probe${t}: reachable from all ${times.length} others after ${s.max} ms (p50 host ${s.p50} ms, missed ${s.missed})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const addStore = await storeSince(cluster, addMark);
  // Where the time goes: every daemon's reconciles caused by the store (the daemons log each one).
  const storeReconciles = cluster.hosts.flatMap((h) =>
    (h.daemon?.output() ?? '')
      .split('\n')
      .filter((l) => l.includes('"msg":"reconcile') && l.includes('"trigger":"store'))
      .map((l) => JSON.parse(l) as { ms: number; processes: number }),
  );
  const recMs = storeReconciles.map((r) => r.ms).sort((x, y) => x - y);
  const reconciles = { count: storeReconciles.length, p50Ms: percentile(recMs, 50), p99Ms: percentile(recMs, 99), processesP50: percentile(storeReconciles.map((r) => r.processes).sort((x, y) => x - y), 50) };
  log(`  store-triggered reconciles: ${reconciles.count}, p50 ${reconciles.p50Ms} ms, p99 ${reconciles.p99Ms} ms, ${reconciles.processesP50} processes each (p50)`);
  const allSorted = adds.map((x) => x.all).sort((x, y) => x - y);

  const stopped = cluster.hosts[1]!;
  const killed = cluster.hosts[2]!;
  const follow = async (label: string, h: typeof stopped, expect: 'gone' | 'back', act: () => Promise<void>, timeoutMs: number, counts?: Map<typeof stopped, number>) => {
    const expected = counts ?? (await fdbCounts(cluster, h));
    const mark = await storeMark(cluster);
    const times = await fdbFollow(cluster, h, expect, expected, act, timeoutMs);
    const store = await storeSince(cluster, mark);
    const s = spread(times, timeoutMs);
    log(`  ${label}: seen by all ${times.length} others after ${s.max} ms (p50 ${s.p50} ms, missed ${s.missed}); store ${store.requests} requests, ${store.watchEvents} events, ${store.bytes} bytes`);
    return { ...s, store };
  };
  log('stop, kill, rejoin');
  const before = await fdbCounts(cluster, stopped);
  const term = await follow(`SIGTERM ${stopped.node}`, stopped, 'gone', () => cluster.stopDaemon(stopped, 'SIGTERM'), TIMEOUT);
  const rejoin = await follow(`rejoin ${stopped.node}`, stopped, 'back', async () => cluster.startDaemon(stopped), 120_000, before);
  await cluster.waitReady(stopped, 120_000);
  const kill = await follow(`SIGKILL ${killed.node} (ttl ${opts.ttl} s)`, killed, 'gone', () => cluster.stopDaemon(killed, 'SIGKILL'), opts.ttl * 1000 + TIMEOUT);
  const load1 = await loadAverage();

  const results = {
    at: new Date().toISOString(),
    options: { ...opts, log: undefined, tries, restSeconds },
    load: { before: load0, after: load1 },
    convergedMs: converged,
    rest: {
      cpuPct: { p50: percentile([...rest.cpuPct].sort((x, y) => x - y), 50), max: Math.max(...rest.cpuPct) },
      rssMiB: { p50: percentile([...rest.rssMiB].sort((x, y) => x - y), 50), max: Math.max(...rest.rssMiB) },
      store: rest.store,
    },
    addToReachable: { p50: percentile(allSorted, 50), p99: percentile(allSorted, 99), tries: adds, store: addStore, reconciles },
    sigterm: term,
    rejoin,
    sigkill: kill,
  };
  const table = markdown(results);
  console.log(table);
  const dir = path.join(repoRoot, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `cluster-${opts.store}-N${opts.hosts}-M${opts.containers}.json`);
  await writeFile(file, `${JSON.stringify(results, null, 1)}\n`);
  log(`wrote ${path.relative(repoRoot, file)}`);
} finally {
  log('cleaning up');
  await cleanup();
}

function markdown(r: {
  options: { hosts: number; containers: number; networks: number; store: string; ttl: number; tries: number; restSeconds: number };
  load: { before: number[]; after: number[] };
  convergedMs: number;
  rest: { cpuPct: { p50: number; max: number }; rssMiB: { p50: number; max: number }; store: { seconds: number; requests: number; watchEvents: number; bytes: number; keys: number } };
  addToReachable: { p50: number; p99: number; store: { requests: number; watchEvents: number; bytes: number } };
  sigterm: { p50: number; max: number; missed: number };
  rejoin: { p50: number; max: number; missed: number };
  sigkill: { p50: number; max: number; missed: number };
}): string {
  const o = r.options;
  const met = (ok: boolean) => (ok ? 'met' : 'missed');
  const perAdd = (x: number) => (x / o.tries).toFixed(0);
  const rows = [
    `| what | measured | target |`,
    `| --- | --- | --- |`,
    `| cluster up: all daemons ready, each knowing ${(o.hosts - 1) * o.containers} remote endpoints | ${(r.convergedMs / 1000).toFixed(1)} s | - |`,
    `| add-to-reachable (ping from every other host), over ${o.tries} tries | p50 ${r.addToReachable.p50} ms, p99 ${r.addToReachable.p99} ms | p99 < 2000 ms: ${met(r.addToReachable.p99 < 2000)} |`,
    `| SIGTERM: entries gone on every other host | p50 ${r.sigterm.p50} ms, all ${r.sigterm.max} ms, missed ${r.sigterm.missed} | < 1000 ms: ${met(r.sigterm.max < 1000 && r.sigterm.missed === 0)} |`,
    `| SIGKILL: entries gone on every other host (ttl ${o.ttl} s) | p50 ${r.sigkill.p50} ms, all ${r.sigkill.max} ms, missed ${r.sigkill.missed} | ttl + 1 s: ${met(r.sigkill.max < o.ttl * 1000 + 1000 && r.sigkill.missed === 0)} |`,
    `| rejoin: entries back on every other host (from daemon start) | p50 ${r.rejoin.p50} ms, all ${r.rejoin.max} ms, missed ${r.rejoin.missed} | - |`,
    `| daemon CPU at rest (${o.restSeconds} s window, one resync each) | p50 ${r.rest.cpuPct.p50.toFixed(2)} %, max ${r.rest.cpuPct.max.toFixed(2)} % | < 1 %: ${met(r.rest.cpuPct.max < 1)} |`,
    `| daemon RSS at rest | p50 ${r.rest.rssMiB.p50.toFixed(0)} MiB, max ${r.rest.rssMiB.max.toFixed(0)} MiB | - |`,
    `| store at rest | ${(r.rest.store.requests / r.rest.store.seconds).toFixed(2)} req/s, ${(r.rest.store.watchEvents / r.rest.store.seconds).toFixed(2)} events/s, ${(r.rest.store.bytes / r.rest.store.seconds / 1024).toFixed(1)} KiB/s, ${r.rest.store.keys} keys | no polling |`,
    `| store per added container | ${perAdd(r.addToReachable.store.requests)} requests, ${perAdd(r.addToReachable.store.watchEvents)} events, ${(r.addToReachable.store.bytes / o.tries / 1024).toFixed(0)} KiB | in proportion to the change |`,
  ];
  return `${o.hosts} hosts x ${o.containers} containers, ${o.networks} overlays, store ${o.store}; load average ${r.load.before.join(' ')} before, ${r.load.after.join(' ')} after\n\n${rows.join('\n')}\n`;
}
