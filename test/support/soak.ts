import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { seededRandom, planChanges } from './crash.js';
import { daemonStatus, startWatch, stopDaemon, type DaemonProc } from './daemon.js';
import { eventually, run, type TestHost } from './netns.js';

/**
 * The soak (issue 16): `weft watch` over many containers while a chaos loop breaks one of weft's
 * objects every FAULT_EVERY ms (a link, an address, a route, an overlay's neighbour or FDB entry,
 * an nft rule or element, a sysctl, an /etc/netns file) and an edit loop changes the manifests every EDIT_EVERY ms (add, change a
 * port, remove). Every fault and edit is checked by an independent eye (`ip -j`, `nft -j`,
 * /proc/sys through `ip netns exec`, the files), never by weft's own status; the daemon's RSS and
 * open fds are sampled from /proc. Seeded: SEED replays the same choices.
 */

export interface SoakOptions {
  seconds: number;
  containers: number;
  seed: number;
  /** --resync of the daemon (sysctls, files and container nft tables have no kernel event). */
  resync: string;
  faultEveryMs?: number;
  editEveryMs?: number;
  /** Growth is measured from the end of the warm-up (the first minute, or a third of a short run). */
  warmupMs?: number;
  /** After the run, how long pending faults and edits may take to be repaired. */
  drainMs?: number;
  log?: (msg: string) => void;
  /** Where to write the daemon's log (JSON lines), for a look after the run. */
  daemonLog?: string;
}

export interface Sample {
  t: number;
  rssKb: number;
  fds: number;
}

export interface KindFigures {
  injected: number;
  repaired: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface SoakResult {
  seed: number;
  seconds: number;
  containers: number;
  resync: string;
  faults: { injected: number; repaired: number; skipped: number; readdressed: string[]; p50Ms: number | null; p99Ms: number | null; maxMs: number | null; byKind: Record<string, KindFigures>; unrepaired: string[] };
  edits: { made: number; converged: number; p50Ms: number | null; p99Ms: number | null; byKind: Record<string, number>; unconverged: string[] };
  daemon: { pid: number; start: Sample; afterWarmup: Sample; end: Sample; rssGrowthPct: number; fdGrowthPct: number; samples: Sample[] };
  log: { errors: number; unplanned: string[]; warnings: Record<string, number> };
  plan: { code: number; changes: string[] };
  foreignUnchanged?: boolean;
}

interface Ctr {
  name: string;
  net: number;
  port: number;
}

/** An injected fault: how to see it repaired (true), for the latency clock. */
interface Pending {
  kind: string;
  what: string;
  /** The container it broke (busy until repaired), or a host-wide key. */
  key: string;
  /** Tokens a log line about this fault would name (for the planned-error check). */
  tokens: string[];
  at: number;
  nextCheck: number;
  repaired: () => Promise<boolean>;
}

const NETS = 4;
const CHECKS_AT_ONCE = 4;
const INJECTIONS_AT_ONCE = 8;
const subnet = (n: number) => `10.${230 + n}.0`;

function networkYaml(): string {
  return Array.from({ length: NETS }, (_, n) => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: sk${n}}\nspec:\n  driver: bridge\n  ipam:\n    config:\n      - subnet: ${subnet(n)}.0/24\n`).join('---\n');
}

/*
 * An overlay beside the bridges, so the chaos loop also breaks neighbour and forwarding (FDB)
 * entries: this host (sk-a, its underlay address on a veth of its own) and a second Host (sk-b) that
 * runs REMOTE containers. weft programs one FDB and one neighbour entry per remote container on
 * the VXLAN device, and one broadcast FDB entry; sk-b need not exist (no traffic crosses).
 */
const UNDERLAY = { dev: 'wsu0', local: '198.18.61.1', peer: '198.18.61.2' };
const REMOTES = 6;
const OVERLAY = 'skov';

function overlayYaml(): string {
  const host = (name: string, address: string) => `apiVersion: weft/v1\nkind: Host\nmetadata: {name: ${name}}\nspec: {address: ${address}}\n`;
  const ctr = (name: string, on: string) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec:\n  host: ${on}\n  networks: [${OVERLAY}]\n`;
  return [
    host('sk-a', UNDERLAY.local),
    host('sk-b', UNDERLAY.peer),
    `apiVersion: weft/v1\nkind: Network\nmetadata: {name: ${OVERLAY}}\nspec:\n  driver: overlay\n  ipam: {config: [{subnet: 10.229.0.0/24}]}\n`,
    // One local container: the overlay exists on this host only while one of its containers runs here.
    ctr('ov-local', 'sk-a'),
    ...Array.from({ length: REMOTES }, (_, i) => ctr(`ov-r${i}`, 'sk-b')),
  ].join('---\n');
}

function containerYaml(c: Ctr): string {
  return `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${c.name}}\nspec:\n  networks: [sk${c.net}]\n  ports: ["${c.port}:80"]\n`;
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const median = (v: readonly number[]) => percentile(v, 50) ?? 0;
const growth = (from: number, to: number) => (from > 0 ? Math.round(((to - from) / from) * 1000) / 10 : 0);

/** JSON of a command's stdout; undefined when it fails (the object or namespace is gone). */
async function json<T>(argv: readonly string[]): Promise<T | undefined> {
  const r = await run(argv, { timeoutMs: 30_000 });
  if (r.code !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    return undefined;
  }
}

interface IpLink {
  ifname: string;
  /** For a veth: the peer's ifindex (in the namespace link_netnsid names). */
  link_index?: number;
  flags: string[];
  addr_info?: { local: string; prefixlen: number; scope: string }[];
}
interface IpRoute {
  dst: string;
  gateway?: string;
}
interface NftItem {
  rule?: { chain: string; handle: number; comment?: string };
  set?: { elem?: unknown[] };
  map?: { elem?: unknown[] };
}

/** The daemon proper: the node process deepest under the started `weft watch` (it re-executes itself in the host namespace). */
async function daemonPid(outer: number): Promise<number> {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    const m = /^(\d+) \((.*)\) \S+ (\d+)/.exec(stat);
    if (m) {
      parent.set(Number(m[1]), Number(m[3]));
      comm.set(Number(m[1]), m[2]!);
    }
  }
  const depth = (pid: number): number => {
    let d = 0;
    for (let p = pid; p !== outer; d++) {
      const up = parent.get(p);
      if (up === undefined || up <= 1 || d > 20) return -1;
      p = up;
    }
    return d;
  };
  let best = outer;
  let bestDepth = 0;
  for (const [pid, name] of comm) {
    if (name !== 'node') continue;
    const d = depth(pid);
    if (d > bestDepth) [best, bestDepth] = [pid, d];
  }
  return best;
}

async function sample(pid: number, t: number): Promise<Sample | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const rss = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => undefined);
  if (rss === undefined || fds === undefined) return undefined;
  return { t, rssKb: Number(rss), fds: fds.length };
}

/** Runs one soak on `host` (made and cleaned up by the caller). Never throws for a finding: read the result. */
export async function runSoak(host: TestHost, o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => undefined);
  const random = seededRandom(o.seed);
  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(random() * xs.length)];
  const faultEvery = o.faultEveryMs ?? 200;
  const editEvery = o.editEveryMs ?? 5000;
  // The first minute (issue 16), or half of a shorter run: a young heap grows for a while.
  const warmupMs = o.warmupMs ?? Math.min(60_000, (o.seconds * 1000) / 2);
  const drainMs = o.drainMs ?? 120_000;

  const ctrs = new Map<string, Ctr>();
  let nextName = 0;
  let nextPort = 20000;
  const newCtr = (): Ctr => ({ name: `s${nextName++}`, net: Math.floor(random() * NETS), port: nextPort++ });
  for (let i = 0; i < o.containers; i++) {
    const c = newCtr();
    ctrs.set(c.name, c);
  }
  for (const argv of [
    // A veth pair whose ends both stay here (this kernel has no dummy devices): the underlay link.
    ['ip', '-n', host.name, 'link', 'add', UNDERLAY.dev, 'type', 'veth', 'peer', 'name', `${UNDERLAY.dev}p`],
    ['ip', '-n', host.name, 'addr', 'add', `${UNDERLAY.local}/24`, 'dev', UNDERLAY.dev],
    ['ip', '-n', host.name, 'link', 'set', UNDERLAY.dev, 'up'],
  ]) {
    const r = await run(argv);
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  }
  const dir = await host.manifests({ 'networks.yaml': networkYaml(), 'overlay.yaml': overlayYaml(), ...Object.fromEntries([...ctrs.values()].map((c) => [`${c.name}.yaml`, containerYaml(c)])) });
  // A new name renamed into place: the daemon never reads half a manifest.
  const writeCtr = async (c: Ctr) => {
    const tmp = path.join(dir, `.${c.name}.tmp`);
    await writeFile(tmp, containerYaml(c));
    await rename(tmp, path.join(dir, `${c.name}.yaml`));
  };

  let started = Date.now();
  const now = () => Date.now() - started;
  const daemon: DaemonProc = startWatch(host, ['-f', dir, '--resync', o.resync, '--prune']);
  const status = async () => daemonStatus(host);
  await eventually(async () => {
    const s = await status();
    return s?.ready === true && s.source.revision !== undefined && s.source.revision === s.source.latest;
  }, 600_000, 500);
  log(`${o.containers} containers up in ${now()} ms`);
  // From here on the clock starts when the daemon is ready: warm-up, samples and faults.
  started = Date.now();
  const pid = await daemonPid(daemon.pid);
  const samples: Sample[] = [];
  const first = await sample(pid, now());
  if (first) samples.push(first);

  // Containers a fault or an edit may touch: created and seen, nothing of theirs in flight.
  const settled = new Set(ctrs.keys());
  const busy = new Set<string>();
  const pending: Pending[] = [];
  const latencies: { kind: string; ms: number }[] = [];
  const injectedByKind: Record<string, number> = {};
  const injections: { at: number; tokens: string[] }[] = [];
  let skipped = 0;
  const readdressed: string[] = [];
  const edits: { kind: string; name: string; at: number; done?: number; converged: () => Promise<boolean> }[] = [];

  const ns = (c: string) => host.netns(c);
  const eth0 = async (c: string) => (await json<IpLink[]>(['ip', '-n', ns(c), '-j', 'addr', 'show', 'dev', 'eth0']))?.[0];
  const v4 = (l: IpLink | undefined) => l?.addr_info?.find((a) => a.scope === 'global' && a.local.includes('.'));
  const hostNft = <T = NftItem>(...args: string[]) => json<{ nftables: T[] }>(['ip', 'netns', 'exec', host.name, 'nft', '-j', 'list', ...args]);
  const sysctl = async (n: string, key: string) => (await run(['ip', 'netns', 'exec', n, 'sysctl', '-n', key])).stdout.trim();
  /**
   * eth0 up with an address of its network: repaired. One other than `addr` (the one it had) is
   * counted as readdressed: the container's peers and published ports then follow a new address.
   */
  const hasAddr = async (c: string, addr: string, kind: string) => {
    const l = await eth0(c);
    const a = v4(l)?.local;
    const ok = l !== undefined && l.flags.includes('UP') && a?.startsWith(`${subnet(ctrs.get(c)?.net ?? -1)}.`) === true;
    if (ok && a !== addr) readdressed.push(`${kind}: ${c} ${addr} -> ${a}`);
    return ok;
  };
  const hasHairpin = async (addr: string) => JSON.stringify((await hostNft('set', 'inet', 'weft', 'self_hairpin'))?.nftables ?? []).includes(`"concat":["${addr}","${addr}"]`);
  /** The overlay's VXLAN device: its remote entries, as `ip` and `bridge` show them. */
  const vxlan = async () => (await json<{ ifname: string; linkinfo?: { info_kind?: string } }[]>(['ip', '-n', host.name, '-d', '-j', 'link', 'show', 'type', 'vxlan']))?.[0]?.ifname;
  const permanentNeigh = async (dev: string) => (await json<{ dst: string; lladdr?: string }[]>(['ip', '-n', host.name, '-j', 'neigh', 'show', 'dev', dev, 'nud', 'permanent'])) ?? [];
  const selfFdb = async (dev: string) =>
    ((await json<{ mac: string; dst?: string; flags?: string[] }[]>(['ip', 'netns', 'exec', host.name, 'bridge', '-j', 'fdb', 'show', 'dev', dev])) ?? []).filter((f) => f.dst === UNDERLAY.peer && (f.flags ?? []).includes('self'));
  const pubPorts = async (): Promise<string> => JSON.stringify((await hostNft('map', 'inet', 'weft', 'pub_port'))?.nftables ?? []);

  /** The fault kinds, each: inject into container c (or the host), return how to see it repaired. */
  type Fault = (c: string) => Promise<Omit<Pending, 'at' | 'nextCheck' | 'kind'> | undefined>;
  /** A fault on the host: one of each key in flight at a time (injections run concurrently). */
  const hostWide = (key: string, fault: Fault): Fault => async (c) => {
    if (busy.has(key)) return undefined;
    busy.add(key);
    const p = await fault(c).catch(() => undefined);
    if (!p) busy.delete(key);
    return p;
  };
  const faults: Record<string, Fault> = {
    'link delete': async (c) => {
      const l = await eth0(c);
      const a = v4(l)?.local;
      // The host end goes too: weft's messages may name it alone ("deleting veth vethX").
      const veth = (await json<{ ifindex: number; ifname: string }[]>(['ip', '-n', host.name, '-j', 'link', 'show']))?.find((h) => h.ifindex === l?.link_index)?.ifname;
      if (!a || (await run(['ip', '-n', ns(c), 'link', 'del', 'eth0'])).code !== 0) return undefined;
      return { what: `eth0 of ${c} (and its host veth ${veth ?? '?'}) deleted`, key: c, tokens: [ns(c), ...(veth ? [veth] : [])], repaired: () => hasAddr(c, a, 'link delete') };
    },
    'link down': async (c) => {
      const a = v4(await eth0(c))?.local;
      if (!a || (await run(['ip', '-n', ns(c), 'link', 'set', 'eth0', 'down'])).code !== 0) return undefined;
      return { what: `eth0 of ${c} set down`, key: c, tokens: [ns(c)], repaired: () => hasAddr(c, a, 'link down') };
    },
    'address delete': async (c) => {
      const a = v4(await eth0(c));
      if (!a || (await run(['ip', '-n', ns(c), 'addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', 'eth0'])).code !== 0) return undefined;
      return { what: `${a.local} of ${c} deleted`, key: c, tokens: [ns(c), a.local], repaired: () => hasAddr(c, a.local, 'address delete') };
    },
    'route delete': async (c) => {
      const gw = (await json<IpRoute[]>(['ip', '-n', ns(c), '-j', 'route', 'show', 'default']))?.[0]?.gateway;
      if (!gw || (await run(['ip', '-n', ns(c), 'route', 'del', 'default'])).code !== 0) return undefined;
      return { what: `default route of ${c} deleted`, key: c, tokens: [ns(c)], repaired: async () => (await json<IpRoute[]>(['ip', '-n', ns(c), '-j', 'route', 'show', 'default']))?.[0]?.gateway === gw };
    },
    'nft element delete': async (c) => {
      const a = v4(await eth0(c))?.local;
      if (!a || !(await hasHairpin(a))) return undefined;
      if ((await run(['ip', 'netns', 'exec', host.name, 'nft', 'delete', 'element', 'inet', 'weft', 'self_hairpin', `{ ${a} . ${a} }`])).code !== 0) return undefined;
      return { what: `self_hairpin element of ${c} deleted`, key: c, tokens: [a, 'self_hairpin'], repaired: () => hasHairpin(a) };
    },
    'nft rule delete (host)': hostWide('host-rule', async () => {
      const rules = ((await hostNft('table', 'inet', 'weft'))?.nftables ?? []).flatMap((i) => (i.rule ? [i.rule] : []));
      const r = pick(rules);
      if (!r?.comment || (await run(['ip', 'netns', 'exec', host.name, 'nft', 'delete', 'rule', 'inet', 'weft', r.chain, 'handle', String(r.handle)])).code !== 0) return undefined;
      const { comment, chain } = r;
      // The rule as weft's messages name it: weft:masquerade6#1a2b3c4d is "rule masquerade6".
      const name = comment.replace(/^weft:/, '').replace(/#.*$/, '');
      return {
        what: `host rule ${chain}/${comment} deleted`,
        key: 'host-rule',
        tokens: [comment, `rule ${name}`],
        repaired: async () => ((await hostNft('chain', 'inet', 'weft', chain))?.nftables ?? []).some((i) => i.rule?.comment === comment),
      };
    }),
    'sysctl change': async (c) => {
      // weft keeps it 0 on a container's interface (the embedded DNS listens inside the namespace).
      const key = 'net.ipv4.conf.eth0.route_localnet';
      if ((await sysctl(ns(c), key)) !== '0' || (await run(['ip', 'netns', 'exec', ns(c), 'sysctl', '-qw', `${key}=1`])).code !== 0) return undefined;
      return { what: `${key} of ${c} set to 1`, key: c, tokens: [ns(c), key], repaired: async () => (await sysctl(ns(c), key)) === '0' };
    },
    'host sysctl change': hostWide('host-sysctl', async () => {
      if ((await run(['ip', 'netns', 'exec', host.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=0'])).code !== 0) return undefined;
      return { what: 'host ip_forward set to 0', key: 'host-sysctl', tokens: ['ip_forward'], repaired: async () => (await sysctl(host.name, 'net.ipv4.ip_forward')) === '1' };
    }),
    'neighbour delete': async () => {
      const dev = await vxlan();
      const n = dev ? pick(await permanentNeigh(dev)) : undefined;
      const key = `neigh ${n?.dst ?? ''}`;
      if (!dev || !n?.lladdr || busy.has(key) || (await run(['ip', '-n', host.name, 'neigh', 'del', n.dst, 'dev', dev])).code !== 0) return undefined;
      return { what: `neighbour ${n.dst} on ${dev} deleted`, key, tokens: [n.dst, dev], repaired: async () => (await permanentNeigh(dev)).some((x) => x.dst === n.dst && x.lladdr === n.lladdr) };
    },
    'fdb delete': async () => {
      const dev = await vxlan();
      const f = dev ? pick(await selfFdb(dev)) : undefined;
      const key = `fdb ${f?.mac ?? ''}`;
      if (!dev || !f || busy.has(key) || (await run(['ip', 'netns', 'exec', host.name, 'bridge', 'fdb', 'del', f.mac, 'dev', dev, 'dst', UNDERLAY.peer, 'self'])).code !== 0) return undefined;
      return { what: `FDB entry ${f.mac} on ${dev} deleted`, key, tokens: [f.mac, dev], repaired: async () => (await selfFdb(dev)).some((x) => x.mac === f.mac) };
    },
    'file change': async (c) => {
      const f = `/etc/netns/${ns(c)}/${random() < 0.5 ? 'hosts' : 'resolv.conf'}`;
      const before = await readFile(f, 'utf8').catch(() => undefined);
      if (before === undefined) return undefined;
      if (random() < 0.5) await rm(f);
      else await writeFile(f, '# changed by the soak\n');
      return { what: `${f} ${before ? 'changed or deleted' : ''}`, key: c, tokens: [ns(c), f], repaired: async () => (await readFile(f, 'utf8').catch(() => undefined)) === before };
    },
  };
  const kinds = Object.keys(faults);

  const injectOne = async () => {
    const kind = pick(kinds)!;
    const free = [...settled].filter((c) => !busy.has(c));
    const c = pick(free);
    if (c === undefined) return void skipped++;
    // Taken before the fault is made: an edit cannot pick the container meanwhile.
    busy.add(c);
    let p: Awaited<ReturnType<Fault>>;
    try {
      p = await faults[kind]!(c);
    } catch {
      p = undefined;
    }
    if (p?.key !== c) busy.delete(c);
    if (!p) return void skipped++;
    // The clock starts when the fault is in the kernel (an injection can take a while under load).
    const at = now();
    busy.add(p.key);
    injectedByKind[kind] = (injectedByKind[kind] ?? 0) + 1;
    injections.push({ at, tokens: p.tokens });
    pending.push({ ...p, kind, at, nextCheck: now() + 100 });
  };

  const editOne = async (n: number) => {
    const kind = (['add', 'port', 'remove'] as const)[n % 3]!;
    const at = now();
    if (kind === 'add') {
      const c = newCtr();
      ctrs.set(c.name, c);
      busy.add(c.name);
      await writeCtr(c);
      edits.push({ kind, name: c.name, at, converged: async () => (v4(await eth0(c.name))?.local.startsWith(`${subnet(c.net)}.`) ?? false) && (await pubPorts()).includes(`"tcp",${c.port}]`) });
      injections.push({ at, tokens: [ns(c.name)] });
      return;
    }
    const name = pick([...settled].filter((x) => !busy.has(x)));
    if (name === undefined) return;
    const c = ctrs.get(name)!;
    busy.add(name);
    settled.delete(name);
    injections.push({ at, tokens: [ns(name)] });
    if (kind === 'port') {
      const old = c.port;
      c.port = nextPort++;
      await writeCtr(c);
      edits.push({ kind, name, at, converged: async () => {
        const m = await pubPorts();
        return m.includes(`"tcp",${c.port}]`) && !m.includes(`"tcp",${old}]`);
      } });
    } else {
      ctrs.delete(name);
      await rm(path.join(dir, `${name}.yaml`));
      edits.push({ kind, name, at, converged: async () => !(await readdir('/run/netns')).includes(ns(name)) && !(await readdir('/etc/netns')).includes(ns(name)) });
    }
  };

  /** One pass over what is due: faults seen repaired, edits seen applied. Checks back off with age (10 %). */
  const checkDue = async () => {
    const t = now();
    const due = pending.filter((x) => x.nextCheck <= t);
    // A few checks at once: each is a process or two, and the clock runs while they wait.
    for (let i = 0; i < due.length; i += CHECKS_AT_ONCE) {
      await Promise.all(
        due.slice(i, i + CHECKS_AT_ONCE).map(async (p) => {
          const ok = await p.repaired().catch(() => false);
          const seen = now();
          if (ok) {
            latencies.push({ kind: p.kind, ms: seen - p.at });
            pending.splice(pending.indexOf(p), 1);
            busy.delete(p.key);
          } else p.nextCheck = seen + Math.max(100, (seen - p.at) / 10);
        }),
      );
    }
    for (const e of edits.filter((x) => x.done === undefined)) {
      if (!(await e.converged().catch(() => false))) continue;
      e.done = now();
      busy.delete(e.name);
      if (e.kind !== 'remove') settled.add(e.name);
    }
  };

  // The three loops run until the end; the checker then drains what is still pending.
  const end = now() + o.seconds * 1000;
  let running = true;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // One fault every faultEvery ms, on the clock: on a loaded machine an injection (a process or
  // two) can take longer than that, so a few run at once; past that many, the tick is skipped.
  const inFlight = new Set<Promise<void>>();
  const chaos = (async () => {
    for (let next = now(); running && now() < end; next += faultEvery) {
      if (inFlight.size < INJECTIONS_AT_ONCE) {
        const job: Promise<void> = injectOne().finally(() => inFlight.delete(job));
        inFlight.add(job);
      } else skipped++;
      await sleep(Math.max(0, next + faultEvery - now()));
    }
    await Promise.all(inFlight);
  })();
  const editor = (async () => {
    for (let n = 0; running && now() < end; n++) {
      await sleep(editEvery);
      if (now() < end) await editOne(n);
    }
  })();
  const sampler = (async () => {
    while (running) {
      await sleep(5000);
      const s = await sample(pid, now());
      if (s) samples.push(s);
    }
  })();
  let lastReport = 0;
  const unsettled = () => pending.length > 0 || edits.some((e) => e.done === undefined);
  while (now() < end || (unsettled() && now() < end + drainMs)) {
    await checkDue();
    if (now() - lastReport > 30_000) {
      lastReport = now();
      const s = samples.at(-1);
      log(`t=${Math.round(now() / 1000)}s faults ${latencies.length}/${pending.length + latencies.length} repaired, edits ${edits.filter((e) => e.done !== undefined).length}/${edits.length}, rss ${s?.rssKb ?? '?'} kB, fds ${s?.fds ?? '?'}`);
    }
    await sleep(100);
  }
  await Promise.all([chaos, editor]);
  const last = await sample(pid, now());
  if (last) samples.push(last);
  running = false;
  await sampler;

  const plan = await host.weft(['plan', '-f', dir]);
  const exit = await stopDaemon(daemon);
  log(`daemon stopped (exit ${exit ?? '?'})`);
  if (o.daemonLog) await writeFile(o.daemonLog, daemon.output());

  // Errors in the log must each follow a planned fault or edit that names what the line names.
  const lines = daemon.output().split('\n').filter((l) => l.startsWith('{'));
  const unplanned: string[] = [];
  const warnings: Record<string, number> = {};
  let errors = 0;
  for (const l of lines) {
    let rec: { level?: number; msg?: string; time?: number | string };
    try {
      rec = JSON.parse(l) as typeof rec;
    } catch {
      continue;
    }
    if ((rec.level ?? 0) === 40) warnings[rec.msg ?? '?'] = (warnings[rec.msg ?? '?'] ?? 0) + 1;
    if ((rec.level ?? 0) < 50) continue;
    errors++;
    const t = (typeof rec.time === 'number' ? rec.time : Date.parse(String(rec.time))) - started;
    const planned = injections.some((i) => i.at <= t + 1000 && t - i.at < 60_000 && i.tokens.some((tok) => l.includes(tok)));
    if (!planned) unplanned.push(l.slice(0, 600));
  }

  const ms = latencies.map((x) => x.ms);
  const byKind: Record<string, KindFigures> = {};
  for (const k of kinds) {
    const ks = latencies.filter((x) => x.kind === k).map((x) => x.ms);
    byKind[k] = { injected: injectedByKind[k] ?? 0, repaired: ks.length, p50Ms: percentile(ks, 50), p99Ms: percentile(ks, 99) };
  }
  const editMs = edits.filter((e) => e.done !== undefined).map((e) => e.done! - e.at);
  const editKinds: Record<string, number> = {};
  for (const e of edits) editKinds[e.kind] = (editKinds[e.kind] ?? 0) + 1;
  // Medians of the first and the second half after the warm-up: one GC more or less is not a trend.
  const warm = samples.filter((s) => s.t >= warmupMs);
  const half = Math.max(1, Math.floor(warm.length / 2));
  const baseline = warm.slice(0, half);
  const tail = warm.length > 1 ? warm.slice(half) : warm;
  const afterWarmup = { t: baseline[0]?.t ?? 0, rssKb: median(baseline.map((s) => s.rssKb)), fds: median(baseline.map((s) => s.fds)) };
  const endSample = { t: tail.at(-1)?.t ?? 0, rssKb: median(tail.map((s) => s.rssKb)), fds: median(tail.map((s) => s.fds)) };
  return {
    seed: o.seed,
    seconds: o.seconds,
    containers: o.containers,
    resync: o.resync,
    faults: {
      injected: latencies.length + pending.length,
      repaired: latencies.length,
      skipped,
      p50Ms: percentile(ms, 50),
      p99Ms: percentile(ms, 99),
      maxMs: percentile(ms, 100),
      byKind,
      unrepaired: pending.map((p) => `${p.kind}: ${p.what} at ${p.at} ms`),
      readdressed,
    },
    edits: {
      made: edits.length,
      converged: editMs.length,
      p50Ms: percentile(editMs, 50),
      p99Ms: percentile(editMs, 99),
      byKind: editKinds,
      unconverged: edits.filter((e) => e.done === undefined).map((e) => `${e.kind} ${e.name} at ${e.at} ms`),
    },
    daemon: {
      pid,
      start: samples[0] ?? { t: 0, rssKb: 0, fds: 0 },
      afterWarmup,
      end: endSample,
      rssGrowthPct: growth(afterWarmup.rssKb, endSample.rssKb),
      fdGrowthPct: growth(afterWarmup.fds, endSample.fds),
      samples,
    },
    log: { errors, unplanned, warnings },
    plan: { code: plan.code, changes: planChanges(plan.stdout) },
  };
}

/** The summary table printed at the end of a soak. */
export function soakTable(r: SoakResult): string {
  const f = (v: number | null) => (v === null ? '-' : `${v}`);
  const rows = [
    ['fault kind', 'injected', 'repaired', 'p50 ms', 'p99 ms'],
    ...Object.entries(r.faults.byKind).map(([k, v]) => [k, `${v.injected}`, `${v.repaired}`, f(v.p50Ms), f(v.p99Ms)]),
    ['all faults', `${r.faults.injected}`, `${r.faults.repaired}`, f(r.faults.p50Ms), f(r.faults.p99Ms)],
    ['manifest edits', `${r.edits.made}`, `${r.edits.converged}`, f(r.edits.p50Ms), f(r.edits.p99Ms)],
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table = rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n');
  const d = r.daemon;
  return [
    `soak: ${r.seconds} s, ${r.containers} containers, resync ${r.resync}, SEED=${r.seed}`,
    table,
    `faults repaired with another address than the container had: ${r.faults.readdressed.length}`,
    `daemon RSS kB: start ${d.start.rssKb}, after warm-up ${d.afterWarmup.rssKb}, end ${d.end.rssKb} (${d.rssGrowthPct} %)`,
    `daemon fds:    start ${d.start.fds}, after warm-up ${d.afterWarmup.fds}, end ${d.end.fds} (${d.fdGrowthPct} %)`,
    `log: ${r.log.errors} error lines, ${r.log.unplanned.length} not after a planned fault; warnings ${JSON.stringify(r.log.warnings)}`,
    `plan at the end: exit ${r.plan.code}, ${r.plan.changes.length} changes`,
  ].join('\n');
}
