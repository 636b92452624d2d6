import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import { exec, inNamespace, isOwnChild } from './exec.js';
import type { KernelStats, NsRef } from './types.js';

/**
 * Kernel change events, used by the watch daemon as dirty triggers (never as state: after an
 * event the daemon re-reads the namespace). The in-process kernel's daemon gets them from one
 * netlink thread (netlink-monitor.ts, decoded in inproc/monitor-decode.ts); this module has the
 * event type, the filters both share, and the process kernel's monitors.
 *
 * iproute2 6.1 ignores -j for `monitor`, so `ip -o -ts monitor label all-nsid ...` text lines are
 * parsed: one line per event, tagged with the namespace (nsid as the host sees it) and the object
 * type. `nft monitor` prints a generation's changes and then "# new generation N by process PID
 * (NAME)", which tells weft's own nft runs apart from anyone else's.
 */

export type EventObject = 'link' | 'address' | 'route' | 'neigh' | 'nft';

export interface KernelEvent {
  source: 'ip' | 'nft';
  object: EventObject;
  /** The namespace the change happened in, as the host namespace numbers it; null: the host itself. */
  nsid: number | null;
  deleted: boolean;
  /** nft: the process that committed the generation, and its name. */
  pid?: number;
  process?: string;
  /** The monitor's text, for logs. */
  line: string;
  /**
   * Set by the netlink monitor, which decodes fields instead of text: whether the event is only
   * the kernel's own consequence or traffic (isNoise), and for links the ifindex, whether the
   * message is a bridge port's, and `sig`, the fields weft manages (CarrierFilter).
   */
  noise?: boolean;
  ifindex?: number;
  port?: boolean;
  sig?: string;
}

const IP_LINE = /^\[[^\]]*\]\s*(?:\[nsid (current|-?\d+)\])?\[(LINK|ADDR|ROUTE|NEIGH)\](Deleted )?(.*)$/;
const OBJECTS: Record<string, EventObject> = { LINK: 'link', ADDR: 'address', ROUTE: 'route', NEIGH: 'neigh' };

/** Parses one line of `ip -o -ts monitor label all-nsid link address route neigh`. Pure. */
export function parseIpMonitorLine(line: string): KernelEvent | undefined {
  const m = IP_LINE.exec(line.trim());
  if (!m) return undefined;
  const [, nsid, type = '', deleted, body = ''] = m;
  const object = OBJECTS[type];
  if (!object) return undefined;
  return {
    source: 'ip',
    object,
    nsid: nsid === undefined || nsid === 'current' ? null : Number(nsid),
    deleted: deleted !== undefined,
    line: body,
  };
}

/**
 * Events that are only the kernel's own consequences of another event (which is reported too),
 * or traffic, never a change to anything weft owns: kernel routes that follow addresses and
 * links, IPv6 link-local addresses, and neighbour entries that are not permanent (ARP/ND churn
 * from traffic would otherwise trigger reconciles under load). Pure.
 */
export function isNoise(e: KernelEvent): boolean {
  if (e.noise !== undefined) return e.noise;
  if (e.source !== 'ip') return false;
  const body = e.line;
  switch (e.object) {
    case 'route':
      return /\bproto kernel\b/.test(body) || /\btable local\b/.test(body) || /^(local|broadcast|multicast|anycast) /.test(body);
    case 'address':
      return /\binet6 fe80:/.test(body);
    case 'neigh':
      return !/\bPERMANENT\b/.test(body) || /\bNOARP\b/.test(body);
    default:
      return false;
  }
}

/** Link flags that follow carrier and operational state, which weft does not manage. */
const CARRIER_FLAGS = new Set(['NO-CARRIER', 'LOWER_UP', 'DORMANT', 'M-DOWN']);

/** A link line without what carrier and operstate changes touch. Pure. */
function withoutCarrier(body: string): string {
  return body
    .replace(/<([^>]*)>/, (_, flags: string) => `<${flags.split(',').filter((f) => !CARRIER_FLAGS.has(f)).join(',')}>`)
    .replace(/\bstate \S+/, '')
    .replace(/\bevent [A-Z][A-Z ]*?(?=\s+\\|\s*$)/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Tells carrier and operstate changes apart from real link changes: the kernel reports a bridge
 * or veth gaining carrier up to a second after weft brought it up (linkwatch), long after weft's
 * own write. Remembers each link's last line (per namespace and ifindex) and calls an event
 * carrier-only when nothing else in it changed. Feed it every event, weft's own included.
 */
export class CarrierFilter {
  private readonly last = new Map<string, string>();

  carrierOnly(e: KernelEvent): boolean {
    if (e.object !== 'link') return false;
    const m = /^(\d+): /.exec(e.line);
    const ifindex = e.ifindex ?? (m ? Number(m[1]) : undefined);
    if (ifindex === undefined) return false;
    const link = `${e.nsid ?? 'host'}/${ifindex}`;
    // Bridge port messages (no qdisc) and link messages print differently: one memory each.
    const port = e.port ?? !/\bqdisc\b/.test(e.line);
    const key = `${link}/${port ? 'port' : 'link'}`;
    if (e.deleted) {
      this.last.delete(`${link}/link`);
      this.last.delete(`${link}/port`);
      return false;
    }
    const now = e.sig ?? withoutCarrier(e.line);
    const same = this.last.get(key) === now;
    this.last.set(key, now);
    return same;
  }
}

const GENERATION = /^# new generation \d+(?: by process (\d+) \(([^)]*)\))?/;

/**
 * Groups `nft monitor` lines into one event per generation (the generation line comes last).
 * Only generations that touch a table with "weft" in its name count: other tables are not weft's.
 */
export class NftMonitorParser {
  private lines: string[] = [];

  push(raw: string): KernelEvent | undefined {
    const line = raw.trim();
    if (line === '') return undefined;
    const gen = GENERATION.exec(line);
    if (!gen) {
      this.lines.push(line);
      return undefined;
    }
    const lines = this.lines;
    this.lines = [];
    const ours = lines.filter(touchesWeftTable);
    if (ours.length === 0) return undefined;
    const e: KernelEvent = {
      source: 'nft',
      object: 'nft',
      nsid: null,
      deleted: ours.some((l) => l.startsWith('delete ') || l.startsWith('flush ')),
      line: ours.join('; '),
    };
    if (gen[1] !== undefined) e.pid = Number(gen[1]);
    if (gen[2] !== undefined) e.process = gen[2];
    return e;
  }
}

/** "add rule inet weft forward ..." / "delete table ip weft_dns": the 4th word names the table. */
function touchesWeftTable(line: string): boolean {
  const words = line.split(/\s+/);
  return (words[3] ?? '').includes('weft');
}

/**
 * Whether a process is weft's own: a command the kernel layer spawned, or a child of one (nft
 * inside a namespace's write script). Reads /proc; a process that already exited and was not
 * spawned directly counts as foreign (the daemon's write window covers those).
 */
export function isWeftProcess(pid: number): boolean {
  // The in-process kernel writes nftables from this very process (libnftables on a worker thread).
  if (pid === process.pid || isOwnChild(pid)) return true;
  // nftables names the committing thread (its tid), and libnftables runs on weft's namespace worker.
  if (existsSync(`/proc/self/task/${pid}`)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 4 (ppid) follows the command name in parentheses, which may itself hold spaces.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return isOwnChild(ppid);
  } catch {
    return false;
  }
}

/** The namespaces the host namespace has numbered (nsid -> name under /run/netns). Reads the kernel. */
export async function listNsIds(host: NsRef, stats: KernelStats): Promise<Map<number, string>> {
  const res = await exec(inNamespace(host.path, ['ip', '-j', 'netns', 'list-id']), stats);
  const out = new Map<number, string>();
  if (res.code !== 0 || res.stdout.trim() === '') return out;
  for (const e of JSON.parse(res.stdout) as { nsid: number; name?: string }[]) if (e.name) out.set(e.nsid, e.name);
  return out;
}

export interface KernelWatchHandlers {
  onEvent(e: KernelEvent): void;
  /** A monitor (re)started: events may have been missed, so everything is suspect. */
  onRestart(source: 'ip' | 'nft'): void;
}

export interface KernelWatch {
  /** Resolves once events are being received (or the monitor gave up for now). */
  ready?: Promise<void>;
  stop(): Promise<void>;
}

const MONITORS = {
  ip: ['ip', '-o', '-ts', 'monitor', 'label', 'all-nsid', 'link', 'address', 'route', 'neigh'],
  nft: ['nft', 'monitor'],
} as const;

/**
 * Starts `ip monitor` and `nft monitor` in the host namespace and restarts them (with backoff) if
 * they exit. Each runs under `setpriv --pdeathsig TERM`, so it ends with the daemon even if the
 * daemon is killed. Spawns processes; never writes to the kernel.
 */
export function watchKernel(host: NsRef, handlers: KernelWatchHandlers, log: Logger): KernelWatch {
  let stopped = false;
  const children = new Set<ChildProcess>();
  const timers = new Set<NodeJS.Timeout>();

  const start = (source: 'ip' | 'nft', attempt: number): void => {
    if (stopped) return;
    const argv = inNamespace(host.path, ['setpriv', '--pdeathsig', 'TERM', ...MONITORS[source]]);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const nft = new NftMonitorParser();
    let buffered = '';
    let stderr = '';
    let sawOutput = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      sawOutput = true;
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const e = source === 'ip' ? parseIpMonitorLine(line) : nft.push(line);
        if (e) handlers.onEvent(e);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      // nft monitor warns about its cache ("W: Unable to cache ..."); keep only the tail for the log.
      stderr = (stderr + chunk).slice(-2000);
    });
    child.on('error', (err) => log.warn({ monitor: source, err: err.message }, 'kernel monitor could not start'));
    child.on('close', (code, signal) => {
      children.delete(child);
      if (stopped) return;
      const next = sawOutput ? 0 : attempt + 1;
      const delay = Math.min(30_000, 200 * 2 ** Math.min(next, 8));
      log.warn({ monitor: source, code, signal, stderr: stderr.trim(), retryMs: delay }, 'kernel monitor exited; restarting');
      const t = setTimeout(() => {
        timers.delete(t);
        start(source, next);
        handlers.onRestart(source);
      }, delay);
      timers.add(t);
    });
  };

  start('ip', 0);
  start('nft', 0);
  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      const closing = [...children].map((c) => new Promise<void>((resolve) => c.once('close', () => resolve())));
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(closing);
    },
  };
}
