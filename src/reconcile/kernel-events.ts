import type { KernelEvent, StaleAspect } from '../kernel/index.js';
import { CarrierFilter, isNoise } from '../kernel/index.js';
import type { NsKey } from '../state/types.js';
import { HOST } from '../state/types.js';
import type { Timers } from './trigger.js';

/**
 * The daemon's kernel-event filter: decides for each monitor event whether it is drift someone
 * else caused in a namespace weft reads (-> reconcile that namespace), weft's own write (-> only
 * forget the cached snapshot), or nothing weft cares about (noise, carrier changes, someone
 * else's namespace). It names the namespace of an event by its nsid, learning the nsids of weft's
 * namespaces as they are created and looking up unknown ones at most every `nsIdRefreshMs`.
 */

export interface KernelEventFilterDeps {
  /** nsid -> name under /run/netns as the host numbers them; with `names`, at least those (given an id if they have none). */
  listNsIds?: (names?: readonly string[]) => Promise<Map<number, string>>;
  /** Whether a process (named by an nftables commit) is weft's own. */
  isOwnProcess?: (pid: number) => boolean;
  timers: Timers;
  nsIdRefreshMs: number;
  /** --host-netns: namespaces named `${hostNetns}-...` are weft's even before a reconcile lists them. */
  hostNetns: string;
  /** A namespace's cached snapshot is stale (any event in it, weft's own included). */
  invalidate(ns: NsKey[], aspect: StaleAspect): void;
  /** Someone else changed a namespace weft reads. */
  drift(e: KernelEvent, ns: NsKey): void;
  /** An event caused by weft's own write. */
  own(e: KernelEvent): void;
}

export class KernelEventFilter {
  /** Events from namespaces that are not weft's, and nsid lookups made. */
  readonly counts = { foreignEventsIgnored: 0, nsIdLookups: 0 };
  /** While weft writes (and for the grace time after): the namespaces the write touches. */
  private writing: Set<NsKey> | undefined;
  private nsIds = new Map<number, string>();
  private readonly carrier = new CarrierFilter();
  private nsIdRefresh: Promise<void> | undefined;
  private lastNsIdRefresh = Number.NEGATIVE_INFINITY;
  /** nsids a lookup found no name for: someone else's namespaces, ignored without another lookup. */
  private readonly foreignNsIds = new Set<number>();
  /** Unknown nsids waiting for the next lookup, with their first event. */
  private readonly unknownNsIds = new Map<number, KernelEvent>();
  private nsIdTimer: unknown;
  /** Namespaces weft reads or wants on this host: events elsewhere are someone else's. */
  private knownNs = new Set<NsKey>();
  private stopped = false;

  constructor(private readonly deps: KernelEventFilterDeps) {}

  /** Weft is about to write these namespaces: their events are its own until `endWrite`. */
  beginWrite(ns: Iterable<NsKey>): void {
    this.writing = new Set([HOST, ...ns]);
  }

  endWrite(): void {
    this.writing = undefined;
  }

  /** The namespaces the last reconcile read or wants. */
  setKnown(ns: Set<NsKey>): void {
    this.knownNs = ns;
  }

  stop(): void {
    this.stopped = true;
    if (this.nsIdTimer !== undefined) this.deps.timers.clearTimeout(this.nsIdTimer);
  }

  accept(e: KernelEvent): void {
    // The carrier filter sees every event (its memory must include weft's own writes).
    if (this.stopped || isNoise(e) || this.carrier.carrierOnly(e)) return;
    const ownProcess = e.source === 'nft' && e.pid !== undefined && (this.deps.isOwnProcess?.(e.pid) ?? false);
    // During a write, only events in the namespaces it touches are taken as weft's own.
    const own = (ns: NsKey) => ownProcess || (this.writing?.has(ns) ?? false);
    if (e.nsid === null) return this.handle(e, own(HOST), HOST);
    const name = this.nsIds.get(e.nsid);
    if (name !== undefined) return this.handle(e, own(name), name);
    // A namespace weft is creating right now is numbered by its first event: weft's own.
    if (this.writing !== undefined) return this.deps.own(e);
    // Someone else's namespace (weft names its own as it creates them): no lookup, no reconcile.
    if (this.foreignNsIds.has(e.nsid)) {
      this.counts.foreignEventsIgnored++;
      return;
    }
    if (!this.unknownNsIds.has(e.nsid)) this.unknownNsIds.set(e.nsid, e);
    this.scheduleLookup();
  }

  /**
   * Learns nsids: of `names` only (namespaces weft just created; merged into what is known), or
   * of every namespace (replacing it). Concurrent calls share one lookup.
   */
  learnNsIds(names?: readonly string[]): Promise<void> {
    const list = this.deps.listNsIds;
    if (!list) return Promise.resolve();
    if (names && this.nsIdRefresh) return this.nsIdRefresh.then(() => this.learnNsIds(names));
    this.nsIdRefresh ??= list(names)
      .then((m) => {
        if (names) for (const [id, name] of m) this.nsIds.set(id, name);
        else this.nsIds = m;
        this.counts.nsIdLookups++;
        if (!names) this.lastNsIdRefresh = this.deps.timers.now();
        // nsids are reused: a number named now is no longer someone else's; and the set stays bounded.
        for (const nsid of m.keys()) this.foreignNsIds.delete(nsid);
        if (this.foreignNsIds.size > 4096) this.foreignNsIds.clear();
      })
      .catch(() => undefined)
      .finally(() => {
        this.nsIdRefresh = undefined;
      });
    return this.nsIdRefresh;
  }

  /** One lookup for every unknown nsid seen, at most once per nsIdRefreshMs. */
  private scheduleLookup(): void {
    if (this.nsIdTimer !== undefined || this.stopped) return;
    const t = this.deps.timers;
    const wait = Math.max(0, this.lastNsIdRefresh + this.deps.nsIdRefreshMs - t.now());
    this.nsIdTimer = t.setTimeout(() => {
      void this.learnNsIds().then(() => {
        this.nsIdTimer = undefined;
        const pending = [...this.unknownNsIds];
        this.unknownNsIds.clear();
        for (const [nsid, e] of pending) {
          const name = this.nsIds.get(nsid);
          if (name !== undefined) this.handle(e, false, name);
          else {
            this.foreignNsIds.add(nsid);
            this.counts.foreignEventsIgnored++;
          }
        }
        // Events that arrived during the lookup wait for the next one.
        if (this.unknownNsIds.size > 0) this.scheduleLookup();
      });
    }, wait);
  }

  private handle(e: KernelEvent, own: boolean, ns: NsKey): void {
    if (ns !== HOST && !this.isOurs(ns)) return;
    // Always forget the snapshot: a foreign change during our write is drift the verify pass must see.
    this.deps.invalidate([ns], e.source === 'nft' ? 'all' : 'ip');
    if (own) this.deps.own(e);
    else this.deps.drift(e, ns);
  }

  private isOurs(ns: NsKey): boolean {
    const h = this.deps.hostNetns;
    return this.knownNs.has(ns) || (h !== '' && ns.startsWith(`${h}-`));
  }
}
