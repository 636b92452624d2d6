import type { DnsClient, DnsConfig } from '../compile/index.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { Query, RecordData } from './wire.js';
import { CLASS_IN, RCODE, TYPE, encodeRecord, isDnsName, nameBytes, queryName, reverseName, sameName } from './wire.js';

/**
 * The record store: what each client may resolve, answered from precomputed wire bytes.
 * Clients are known by container name (the socket a query arrived on names it); each sees only the networks its container is on (plus its
 * own legacy link aliases). Clients with the same view share one answer cache, filled on first
 * use with dns2-encoded records. A new DnsConfig means a new store (the old one is dropped whole).
 */

/** Records to send (an Answer fills them in place: the caller copies them at once). */
export interface AnswerDecision {
  readonly kind: 'answer';
  rcode: number;
  records: Buffer;
  count: number;
}

/** What to do with a query. */
export type Decision = AnswerDecision | { kind: 'forward'; upstreams: readonly string[] } | { kind: 'refuse' };

interface Addresses {
  v4: string[];
  v6: string[];
}

/** Answers per view are cached; a flood of distinct names clears the cache rather than growing it. */
const CACHE_LIMIT = 50_000;
/** Rotations are precomputed up to this many records; longer answers are rotated per response. */
const PRECOMPUTED_ROTATIONS = 16;
const EMPTY = Buffer.alloc(0);

/** A cached answer; the hot path allocates nothing but the response buffer. */
class Answer implements AnswerDecision {
  readonly kind = 'answer';
  records: Buffer = EMPTY;
  readonly count: number;
  private next = 0;
  private readonly rotations: Buffer[];

  constructor(
    readonly rcode: number,
    private readonly list: Buffer[],
  ) {
    this.count = list.length;
    this.rotations = list.length <= PRECOMPUTED_ROTATIONS ? list.map((_, i) => rotate(list, i)) : [];
  }

  /** Sets `records` to the next rotation: an alias on several containers spreads the load. */
  take(): this {
    if (this.count === 0) return this;
    const i = this.next;
    this.next = i + 1 === this.count ? 0 : i + 1;
    this.records = this.rotations[i] ?? rotate(this.list, i);
    return this;
  }
}

function rotate(records: Buffer[], i: number): Buffer {
  return Buffer.concat([...records.slice(i), ...records.slice(0, i)]);
}

interface CacheEntry {
  /** The question name's wire bytes, case as asked. */
  name: Buffer;
  qtype: number;
  hit: Answer | 'forward';
  next: CacheEntry | undefined;
}

interface ReverseEntry {
  network: string;
  /** "<container>.<network>", as Docker answers PTR queries. */
  target: string;
}

/** What one group of clients may resolve. */
class View {
  /** Query hash -> entries (a chain for the rare collision), matched on the name bytes and qtype. */
  private readonly cache = new Map<number, CacheEntry>();
  private cached = 0;
  private readonly forward: Decision;

  constructor(
    private readonly store: RecordStore,
    readonly networks: readonly string[],
    private readonly links: ReadonlyMap<string, Addresses>,
    readonly upstreams: readonly string[],
  ) {
    this.forward = { kind: 'forward', upstreams };
  }

  decide(q: Query): Decision {
    let e = this.cache.get(q.hash);
    while (e !== undefined && (e.qtype !== q.qtype || !sameName(q, e.name))) e = e.next;
    let hit = e?.hit;
    if (hit === undefined) {
      hit = this.resolve(q);
      if (this.cached >= CACHE_LIMIT) {
        this.cache.clear();
        this.cached = 0;
      }
      this.cache.set(q.hash, { name: nameBytes(q), qtype: q.qtype, hit, next: this.cache.get(q.hash) });
      this.cached++;
    }
    return hit === 'forward' ? this.forward : hit.take();
  }

  /** Never throws: a record that cannot be encoded is SERVFAIL for that question, and a log line. */
  private resolve(q: Query): Answer | 'forward' {
    try {
      return this.lookupAnswer(q);
    } catch (err) {
      this.store.log.warn({ name: queryName(q).slice(0, 300), qtype: q.qtype, error: err instanceof Error ? err.message : String(err) }, 'dns: cannot encode an answer');
      return new Answer(RCODE.SERVFAIL, []);
    }
  }

  private lookupAnswer(q: Query): Answer | 'forward' {
    if (q.qclass !== CLASS_IN && q.qclass !== TYPE.ANY) return 'forward';
    const name = queryName(q);
    if (q.qtype === TYPE.PTR) {
      const found = this.store.reverse.get(name)?.filter((r) => this.networks.includes(r.network)) ?? [];
      if (found.length === 0) return 'forward';
      return new Answer(RCODE.NOERROR, found.map((r) => encodeRecord(name, q.qtype, { type: TYPE.PTR, domain: r.target })));
    }
    const found = this.lookup(name);
    if (found === 'forward') return found;
    if (found === 'nxdomain') return new Answer(RCODE.NXDOMAIN, []);
    const data: RecordData[] = [];
    if (q.qtype === TYPE.A || q.qtype === TYPE.ANY) data.push(...found.v4.map((address) => ({ type: TYPE.A, address }) as const));
    if (q.qtype === TYPE.AAAA || q.qtype === TYPE.ANY) data.push(...found.v6.map((address) => ({ type: TYPE.AAAA, address }) as const));
    // A name weft owns without records of this type: NODATA (NOERROR, no answer), not NXDOMAIN.
    return new Answer(RCODE.NOERROR, data.map((rr) => encodeRecord(name, q.qtype, rr)));
  }

  /**
   * A name's addresses in this view: a link alias, then the name on any of the client's networks,
   * then "<name>.<network>" for one of them (weft owns that domain: unknown there is NXDOMAIN).
   */
  private lookup(name: string): Addresses | 'nxdomain' | 'forward' {
    const link = this.links.get(name);
    if (link) return link;
    const here = merge(this.networks.map((n) => this.store.names.get(n)?.get(name)));
    if (here) return here;
    const labels = name.split('.');
    for (let i = 1; i < labels.length; i++) {
      const network = labels.slice(i).join('.');
      if (!this.networks.includes(network)) continue;
      return this.store.names.get(network)?.get(labels.slice(0, i).join('.')) ?? 'nxdomain';
    }
    return 'forward';
  }
}

function merge(found: (Addresses | undefined)[]): Addresses | undefined {
  const hits = found.filter((f): f is Addresses => f !== undefined);
  if (hits.length === 0) return undefined;
  if (hits.length === 1) return hits[0];
  return { v4: [...new Set(hits.flatMap((h) => h.v4))], v6: [...new Set(hits.flatMap((h) => h.v6))] };
}

export class RecordStore {
  /** network (lower case) -> name (lower case) -> addresses, in manifest order. */
  readonly names = new Map<string, Map<string, Addresses>>();
  /** reverse name -> the containers with that address. */
  readonly reverse = new Map<string, ReverseEntry[]>();
  /** Container name -> what it may resolve. */
  private readonly clients = new Map<string, View>();

  /**
   * Names that cannot go on the wire (a label over 63 bytes, a name over 253, control bytes: a
   * hostile store entry or a bug upstream) are left out with a log line, never answered.
   */
  constructor(
    config: DnsConfig,
    readonly log: Logger = silentLogger,
  ) {
    const skip = (name: string, container: string, network: string, what: string) =>
      log.warn({ name: name.slice(0, 300), length: name.length, container: container.slice(0, 300), network: network.slice(0, 300), what }, 'dns: invalid name left out of the records');
    const endpoints = new Map<string, Addresses>();
    for (const net of config.networks) {
      const key = net.name.toLowerCase();
      const names = new Map<string, Addresses>();
      this.names.set(key, names);
      for (const e of net.entries) {
        endpoints.set(`${e.container}|${net.name}`, { v4: e.ipv4 ? [e.ipv4] : [], v6: e.ipv6 ? [e.ipv6] : [] });
        for (const n of e.names) {
          if (!isDnsName(n)) {
            skip(n, e.container, net.name, 'name');
            continue;
          }
          let a = names.get(n);
          if (!a) names.set(n, (a = { v4: [], v6: [] }));
          if (e.ipv4 && !a.v4.includes(e.ipv4)) a.v4.push(e.ipv4);
          if (e.ipv6 && !a.v6.includes(e.ipv6)) a.v6.push(e.ipv6);
        }
        // PTR answers name "<container>.<network>": both parts must make a valid name together.
        const target = `${e.container}.${net.name}`.toLowerCase();
        if (!isDnsName(target) && (e.ipv4 || e.ipv6)) skip(target, e.container, net.name, 'ptr target');
        for (const ip of [e.ipv4, e.ipv6]) {
          if (!ip || !isDnsName(target)) continue;
          const r = reverseName(ip);
          const list = this.reverse.get(r) ?? [];
          list.push({ network: key, target });
          this.reverse.set(r, list);
        }
      }
    }
    const views = new Map<string, View>();
    for (const c of config.clients) {
      const id = viewKey(c);
      let view = views.get(id);
      if (!view) {
        const links = new Map<string, Addresses>();
        for (const l of c.links) {
          if (!isDnsName(l.alias)) {
            skip(l.alias, l.container, l.network, 'link alias');
            continue;
          }
          const target = endpoints.get(`${l.container}|${l.network}`);
          if (target && !links.has(l.alias)) links.set(l.alias, target);
        }
        view = new View(this, c.networks.map((n) => n.toLowerCase()), links, c.upstreams);
        views.set(id, view);
      }
      this.clients.set(c.container, view);
    }
  }

  /** The decision for a query from container `client`; strangers (not a container using the embedded DNS) are refused. */
  decide(client: string, q: Query): Decision {
    const view = this.clients.get(client);
    return view ? view.decide(q) : { kind: 'refuse' };
  }

  /** Clients known to the store (containers), for status output. */
  get clientCount(): number {
    return this.clients.size;
  }
}

function viewKey(c: DnsClient): string {
  return JSON.stringify([c.networks, c.links, c.upstreams]);
}
