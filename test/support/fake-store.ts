import type { PeerEndpoint } from '../../src/compile/index.js';
import { WeftError } from '../../src/errors.js';
import type { EndpointCache, MembershipStore } from '../../src/reconcile/index.js';
import type { StoreChange } from '../../src/store/endpoints.js';

type Listener = { onChange: (e: StoreChange) => void; onConnection: ((up: boolean, err?: Error) => void) | undefined };

/**
 * An in-memory membership store for daemon unit tests: endpoints by node/network/container, a
 * watch that reports puts and deletes (also the daemon's own), a lease that can be lost, and a
 * switch that makes it unreachable (calls fail) or silent (calls never answer).
 */
export class FakeStore implements MembershipStore {
  readonly url = 'etcd://store.test:2379';
  readonly entries = new Map<string, PeerEndpoint>();
  readonly publications: { node: string; endpoints: string[]; keepAlive: boolean }[] = [];
  readonly closes: { revoke?: boolean }[] = [];
  reads = 0;
  /** Calls fail as gRPC does when nothing listens. */
  down = false;
  /** Calls never answer (a store behind a firewall that drops packets). */
  silent = false;
  private listeners: Listener[] = [];
  private onLost: ((err: Error) => void) | undefined;

  static key(e: Pick<PeerEndpoint, 'node' | 'network' | 'container'>): string {
    return `/weft/v1/endpoints/${e.node}/${e.network}/${e.container}`;
  }

  async endpoints(): Promise<PeerEndpoint[]> {
    await this.answer('reading endpoints');
    this.reads++;
    return [...this.entries.values()].map((e) => ({ ...e, aliases: [...e.aliases] }));
  }

  async publish(node: string, _address: string, endpoints: readonly PeerEndpoint[], opts: { keepAlive?: boolean; onLost?: (err: Error) => void }): Promise<void> {
    await this.answer('publishing endpoints');
    const wanted = new Set(endpoints.map((e) => FakeStore.key(e)));
    for (const [k, e] of this.entries) if (e.node === node && !wanted.has(k)) this.remove(k);
    for (const e of endpoints) this.put(e);
    this.onLost = opts.onLost;
    this.publications.push({ node, endpoints: endpoints.map((e) => e.container), keepAlive: opts.keepAlive === true });
  }

  async watch(onChange: (e: StoreChange) => void, onConnection?: (up: boolean, err?: Error) => void): Promise<() => Promise<void>> {
    const l: Listener = { onChange, onConnection };
    this.listeners.push(l);
    if (!this.down && !this.silent) queueMicrotask(() => onConnection?.(true));
    return async () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
  }

  async close(opts: { revoke?: boolean } = {}): Promise<void> {
    this.closes.push({ ...(opts.revoke !== undefined ? { revoke: opts.revoke } : {}) });
    if (opts.revoke && !this.down) for (const [k, e] of this.entries) if (this.publications.some((p) => p.node === e.node)) this.remove(k);
  }

  /** Another node publishes (or updates) an endpoint. */
  put(e: PeerEndpoint): void {
    const key = FakeStore.key(e);
    this.entries.set(key, e);
    this.emit({ type: 'put', key, node: e.node, network: e.network, container: e.container });
  }

  /** An endpoint's key disappears (its node withdrew, its lease expired, an operator deleted it). */
  remove(key: string): void {
    const e = this.entries.get(key);
    if (!e || !this.entries.delete(key)) return;
    this.emit({ type: 'delete', key, node: e.node, network: e.network, container: e.container });
  }

  /** The store goes away (or comes back): calls fail, the watch says so. */
  setDown(down: boolean): void {
    this.down = down;
    for (const l of this.listeners) l.onConnection?.(!down, down ? new WeftError('STORE', `membership store ${this.url}: watching endpoints failed: 14 UNAVAILABLE`) : undefined);
  }

  /** The kept lease expired: the node's keys go, and the client says so. */
  loseLease(node: string): void {
    for (const [k, e] of this.entries) if (e.node === node) this.remove(k);
    this.onLost?.(new Error('lease expired'));
  }

  private emit(e: StoreChange): void {
    if (this.down) return;
    for (const l of this.listeners) l.onChange(e);
  }

  private async answer(what: string): Promise<void> {
    if (this.silent) await new Promise(() => undefined);
    if (this.down) throw new WeftError('STORE', `membership store ${this.url}: ${what} failed: 14 UNAVAILABLE: No connection established`);
  }
}

/** Endpoints kept between daemon runs, in memory. */
export class MemoryCache implements EndpointCache {
  saves = 0;
  constructor(public endpoints: PeerEndpoint[] | undefined = undefined) {}
  async load(): Promise<PeerEndpoint[] | undefined> {
    return this.endpoints;
  }
  async save(endpoints: readonly PeerEndpoint[]): Promise<void> {
    this.saves++;
    this.endpoints = [...endpoints];
  }
}
