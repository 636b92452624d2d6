import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, sleep, startBackground } from '../lib/proc.js';
import type { Cluster, SimHost, StoreCounters } from './cluster.js';
import { containerName, containerYaml, procUsage } from './cluster.js';

/**
 * The cluster measurements (see docs/cluster.md for what each means). Every wait is bounded; a
 * host that never gets there counts as the bound (and is reported as missed).
 */

export interface StoreLoad {
  seconds: number;
  requests: number;
  watchEvents: number;
  bytes: number;
  keys: number;
}

export interface Spread {
  /** Per host (the others): ms until done; missing hosts count as timeoutMs. */
  p50: number;
  max: number;
  missed: number;
}

/** Store counters and bytes now, to diff a phase against. */
export async function storeMark(c: Cluster): Promise<{ at: number; counters: StoreCounters; bytes: number }> {
  const [counters, traffic] = await Promise.all([c.storeCounters(), c.storeTraffic()]);
  return { at: Date.now(), counters, bytes: traffic.bytes };
}

export async function storeSince(c: Cluster, m: Awaited<ReturnType<typeof storeMark>>): Promise<StoreLoad> {
  const now = await storeMark(c);
  return {
    seconds: (now.at - m.at) / 1000,
    requests: now.counters.requests - m.counters.requests,
    watchEvents: now.counters.watchEvents - m.counters.watchEvents,
    bytes: now.bytes - m.bytes,
    keys: now.counters.keys,
  };
}

/** Each daemon's CPU share and RSS over `seconds` of rest (the daemon inside its namespace). */
export async function atRest(c: Cluster, seconds: number): Promise<{ cpuPct: number[]; rssMiB: number[]; store: StoreLoad }> {
  const pids = await Promise.all(c.hosts.map((h) => c.daemonPid(h)));
  const before = await Promise.all(pids.map((p) => (p ? procUsage(p) : undefined)));
  const mark = await storeMark(c);
  await sleep(seconds * 1000);
  const after = await Promise.all(pids.map((p) => (p ? procUsage(p) : undefined)));
  const store = await storeSince(c, mark);
  const cpuPct: number[] = [];
  const rssMiB: number[] = [];
  after.forEach((a, i) => {
    const b = before[i];
    if (!a || !b) return;
    cpuPct.push(((a.cpuMs - b.cpuMs) / (seconds * 1000)) * 100);
    rssMiB.push(a.rss / 2 ** 20);
  });
  return { cpuPct, rssMiB, store };
}

/**
 * One try: a container added to `on`'s manifests (a new file) at t0; every other host pings it
 * from its container on the same network until the first reply. Returns each host's time (ms).
 */
export async function addToReachable(c: Cluster, on: SimHost, t: number, timeoutMs: number): Promise<number[]> {
  const name = `probe${t}`;
  const address = `10.64.250.${t + 1}`;
  const others = c.hosts.filter((h) => h !== on);
  const t0 = Date.now();
  await writeFile(path.join(on.manifests, `${name}.yaml`), containerYaml(name, on.node, 0, address));
  const secs = Math.ceil(timeoutMs / 1000);
  // Each host pings until the first reply: `ping -c1` ends when the neighbour lookup fails
  // (the address is not programmed yet), so a shell loop starts it again.
  const loop = `until ping -n -q -c1 -W1 ${address} >/dev/null 2>&1; do sleep 0.02; done`;
  const times = await Promise.all(
    others.map(async (h) => {
      const r = await run(['timeout', String(secs), 'ip', 'netns', 'exec', c.containerNetns(h, containerName(h.index, 0)), 'sh', '-c', loop], { timeoutMs: timeoutMs + 5000 });
      return r.code === 0 ? Date.now() - t0 : Infinity;
    }),
  );
  return times;
}

/**
 * ARP retries every 50 ms (20 times) in the pinging containers, so the ping measures the overlay,
 * not the 1 s ARP timer.
 */
export async function fastArp(c: Cluster): Promise<void> {
  await Promise.all(
    c.hosts.map((h) => run(['ip', 'netns', 'exec', c.containerNetns(h, containerName(h.index, 0)), 'sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=50', 'net.ipv4.neigh.eth0.mcast_solicit=20'])),
  );
}

/**
 * Until every other host has removed (gone) or programmed (back) its FDB entries for `target`'s
 * containers: `bridge monitor fdb` in each, counted against what the host had before.
 * `act` runs once the monitors listen; returns each host's time (ms) from then.
 */
export async function fdbFollow(c: Cluster, target: SimHost, expect: 'gone' | 'back', expected: Map<SimHost, number>, act: () => Promise<void>, timeoutMs: number): Promise<number[]> {
  const others = c.hosts.filter((h) => h !== target);
  const mons = others.map((h) => ({ h, mon: startBackground(['ip', 'netns', 'exec', h.ns, 'bridge', 'monitor', 'fdb']) }));
  await sleep(500);
  const t0 = Date.now();
  await act();
  const dst = ` dst ${target.address} `;
  const done = await Promise.all(
    mons.map(async ({ h, mon }) => {
      const want = expected.get(h) ?? 0;
      const deadline = t0 + timeoutMs;
      for (;;) {
        const lines = mon.output().split('\n').filter((l) => l.includes(dst) && l.includes('self') && !l.startsWith('00:00:00:00:00:00') && !l.includes('Deleted 00:00:00:00:00:00'));
        const removed = new Set(lines.filter((l) => l.startsWith('Deleted ')).map((l) => l.split(' ')[1]));
        const added = new Set(lines.filter((l) => !l.startsWith('Deleted ')).map((l) => l.split(' ')[0]));
        if ((expect === 'gone' ? removed.size : added.size) >= want) return Date.now() - t0;
        if (Date.now() > deadline) return Infinity;
        await sleep(20);
      }
    }),
  );
  await Promise.all(mons.map((m) => m.mon.stop()));
  return done;
}

/** Container FDB entries (not the broadcast one) each other host has towards `target`. */
export async function fdbCounts(c: Cluster, target: SimHost): Promise<Map<SimHost, number>> {
  const out = new Map<SimHost, number>();
  await Promise.all(
    c.hosts
      .filter((h) => h !== target)
      .map(async (h) => {
        const r = await run(['ip', 'netns', 'exec', h.ns, 'bridge', 'fdb', 'show'], { timeoutMs: 20_000 });
        out.set(h, r.stdout.split('\n').filter((l) => l.includes(` dst ${target.address} `) && l.includes(' self') && !l.startsWith('00:00:00:00:00:00')).length);
      }),
  );
  return out;
}

export function spread(times: readonly number[], timeoutMs: number): Spread {
  const xs = times.map((t) => (Number.isFinite(t) ? t : timeoutMs)).sort((a, b) => a - b);
  return { p50: percentile(xs, 50), max: xs[xs.length - 1] ?? 0, missed: times.filter((t) => !Number.isFinite(t)).length };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}
