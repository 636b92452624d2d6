import type { PeerEndpoint, Topology } from '../compile/index.js';
import { WeftError } from '../errors.js';
import { redactSecrets } from '../redact.js';
import type { Logger } from '../log.js';
import { canonicalEndpoint, localEndpoints, sameEndpoints } from '../store/endpoints.js';
import type { StoreChange } from '../store/endpoints.js';
import { clip } from '../store/trust.js';
import type { Rejection } from '../store/trust.js';
import type { PeerSource } from './reconcile.js';
import type { Timers } from './trigger.js';

/**
 * The watch daemon's side of the membership store (--store): what it reads before each reconcile,
 * what it publishes after one, and what it does while the store does not answer.
 *
 * - Read: every reconcile reads the endpoints all nodes published (as `apply --store` does),
 *   waiting at most `timeoutMs`. While the store is unreachable, reconciles use the last endpoints
 *   it returned (kept in --state-dir too, for a daemon that starts while the store is down), so
 *   no peer loses its FDB and neighbour entries because of an outage; a probe with backoff finds
 *   out when the store answers again.
 * - Publish: after a reconcile, this node's endpoints on global networks go to the store under
 *   one lease that the store client keeps alive, when they differ from what the store holds for
 *   this node, and again whenever the store may have lost them (first reconcile, lease lost, store
 *   back, keys deleted by someone else).
 * - Watch: changes by other nodes call `onChange` (the daemon debounces, then reconciles); the
 *   daemon's own publications are not changes.
 * - Stop: the lease is revoked, so peers drop this node's endpoints at once. A daemon that is
 *   killed cannot do that: its endpoints expire with the lease's TTL.
 */

/** The membership store as the daemon uses it (src/store/etcd.ts EtcdStore). */
export interface MembershipStore {
  readonly url: string;
  /** Every endpoint any node published. Throws WeftError STORE. */
  endpoints(): Promise<PeerEndpoint[]>;
  /** Replaces this node's endpoints, under a lease kept alive in the background. Throws WeftError STORE. */
  publish(node: string, address: string, endpoints: readonly PeerEndpoint[], opts: { keepAlive: true; onLost?: (err: Error) => void }): Promise<void>;
  /** Returns at once; connects (and reconnects) in the background and says when it is up or down. */
  watch(onChange: (e: StoreChange) => void, onConnection?: (connected: boolean, err?: Error) => void): Promise<() => Promise<void>>;
  /** With revoke, this node's endpoints disappear from the store at once. */
  close(opts?: { revoke?: boolean; timeoutMs?: number }): Promise<void>;
}

/** Where endpoints the manifests do not vouch for are logged and counted (src/store/rejections.ts). */
export interface RejectionSink {
  add(r: Rejection): void;
  totals(): Record<string, number>;
}

/** Keeps the last endpoints read from the store between daemon runs (a file in --state-dir). */
export interface EndpointCache {
  load(): Promise<PeerEndpoint[] | undefined>;
  save(endpoints: readonly PeerEndpoint[]): Promise<void>;
}

export interface StoreSyncOptions {
  /** The longest a reconcile waits for the store before it goes on with the last known endpoints. */
  timeoutMs: number;
  /** Probing an unreachable store: doubling from min up to max. */
  retryMs: { min: number; max: number };
}

export type StoreOp = 'read' | 'publish' | 'watch';

export interface StoreFailure {
  op: StoreOp;
  message: string;
  at: string;
}

/** The store part of the daemon's /status. */
export interface StoreStatus {
  url: string;
  /** The last store operation succeeded and the watch is up. */
  connected: boolean;
  watching: boolean;
  /** Other nodes' endpoints in use: as last read, or last known while the store does not answer. */
  remoteEndpoints: number;
  /** When those were read from the store (absent: not yet in this run). */
  readAt?: string;
  /** They come from --state-dir: the store has not answered since the daemon started. */
  cached?: boolean;
  /** This node's last publication. */
  lastPublish?: { at: string; endpoints: number };
  /** Changes by other nodes seen on the watch. */
  changes: number;
  errors: Record<StoreOp, number>;
  /** Store records not used (not vouched for by the manifests, or not endpoints), by reason. */
  rejected?: Record<string, number>;
}

interface Wanted {
  node: string;
  address: string;
  endpoints: PeerEndpoint[];
}

export class StoreSync {
  /** For the reconcile context: the endpoints to compile with. Never throws. */
  readonly peers: PeerSource = { endpoints: () => this.read(), rejected: (r) => this.deps.rejections?.add(r) };
  /** Changes whenever the endpoints in use change (the DNS records follow them). */
  generation = 0;

  private known: PeerEndpoint[] | undefined;
  private knownText = '';
  private readAt: string | undefined;
  private cached = false;
  private failure: StoreFailure | undefined;
  private watching = false;
  private unwatch: (() => Promise<void>) | undefined;
  /** This node's endpoints as the last good reconcile computed them. */
  private wanted: Wanted | undefined;
  private published: { at: string; endpoints: PeerEndpoint[] } | undefined;
  /** The store may not hold this node's endpoints (under the kept lease): publish at the next chance. */
  private mustPublish = true;
  private publishing: Promise<void> = Promise.resolve();
  private saving: Promise<void> = Promise.resolve();
  private syncing: Promise<void> | undefined;
  private retryTimer: unknown;
  private retryDelay: number;
  private stopping = false;
  private changes = 0;
  private readonly errors: Record<StoreOp, number> = { read: 0, publish: 0, watch: 0 };

  constructor(
    private readonly store: MembershipStore,
    private readonly deps: { log: Logger; timers: Timers; onChange: () => void; cache?: EndpointCache; rejections?: RejectionSink; options: StoreSyncOptions },
  ) {
    this.retryDelay = deps.options.retryMs.min;
  }

  /** Loads the endpoints kept from the last run and starts watching (without waiting for the store). */
  async start(): Promise<void> {
    const kept = await this.deps.cache?.load().catch(() => undefined);
    if (kept && this.known === undefined) {
      this.setKnown(kept);
      this.cached = true;
    }
    if (this.stopping) return;
    this.unwatch = await this.store.watch(
      (e) => this.onStoreChange(e),
      (up, err) => this.onConnection(up, err),
    );
  }

  /**
   * After a reconcile that did not fail: publishes this node's endpoints if the store does not
   * hold them as they are (or may have lost them). Failures are reported, never thrown.
   */
  async afterReconcile(topology: Topology): Promise<void> {
    const node = topology.node;
    const address = topology.nodeAddress;
    if (node === undefined || address === undefined || this.stopping) return;
    const endpoints = localEndpoints(topology);
    this.wanted = { node, address, endpoints };
    // Unreachable: the probe publishes once the store answers again.
    if (this.failure) {
      this.mustPublish = true;
      return;
    }
    // What the store held for this node when this reconcile read it.
    const stored = (this.known ?? []).filter((e) => e.node === node);
    if (!this.mustPublish && sameEndpoints(stored, endpoints)) return;
    await this.publish().catch((err: unknown) => this.fail('publish', err));
  }

  failureNow(): StoreFailure | undefined {
    return this.failure;
  }

  status(): StoreStatus {
    const node = this.wanted?.node;
    return {
      url: redactSecrets(this.store.url),
      connected: this.failure === undefined && this.watching,
      watching: this.watching,
      remoteEndpoints: (this.known ?? []).filter((e) => e.node !== node).length,
      ...(this.readAt !== undefined ? { readAt: this.readAt } : {}),
      ...(this.cached ? { cached: true } : {}),
      ...(this.published ? { lastPublish: { at: this.published.at, endpoints: this.published.endpoints.length } } : {}),
      changes: this.changes,
      errors: { ...this.errors },
      ...(this.deps.rejections ? { rejected: this.deps.rejections.totals() } : {}),
    };
  }

  /** Stops watching and probing, and withdraws this node from the store (revokes its lease). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.retryTimer !== undefined) this.deps.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.syncing;
    await this.publishing;
    await this.unwatch?.().catch(() => undefined);
    await this.store.close({ revoke: true, timeoutMs: 3000 }).catch((err: unknown) => this.deps.log.warn({ err: message(err) }, 'could not withdraw from the membership store; its lease expires'));
    await this.saving;
  }

  // ---- reading ----

  private async read(): Promise<PeerEndpoint[]> {
    // Unreachable: do not make every reconcile wait for it; the probe tells when it answers.
    if (this.failure || this.stopping) return this.known ?? [];
    try {
      const endpoints = await this.bounded(this.store.endpoints(), 'reading endpoints');
      this.remember(endpoints);
      return endpoints;
    } catch (err) {
      this.fail('read', err);
      return this.known ?? [];
    }
  }

  /** Takes a fresh read; true when it differs from the endpoints known before. */
  private remember(endpoints: PeerEndpoint[]): boolean {
    this.readAt = new Date(this.deps.timers.now()).toISOString();
    this.cached = false;
    if (!this.setKnown(endpoints)) return false;
    const cache = this.deps.cache;
    if (cache) {
      this.saving = this.saving
        .then(() => cache.save(endpoints))
        .catch((err: unknown) => this.deps.log.warn({ err: message(err) }, 'could not keep the store endpoints in the state directory'));
    }
    return true;
  }

  /** True when the endpoints differ from the known ones. */
  private setKnown(endpoints: PeerEndpoint[]): boolean {
    const text = endpoints.map(canonicalEndpoint).sort().join('\n');
    if (this.known !== undefined && text === this.knownText) return false;
    this.known = endpoints;
    this.knownText = text;
    this.generation++;
    return true;
  }

  // ---- publishing ----

  /** Publishes the wanted endpoints; one publication at a time. Throws WeftError STORE. */
  private publish(): Promise<void> {
    const run = async () => {
      const w = this.wanted;
      if (!w || this.stopping) return;
      // Cleared first: a lease lost while this runs asks for the next one.
      this.mustPublish = false;
      try {
        await this.bounded(this.store.publish(w.node, w.address, w.endpoints, { keepAlive: true, onLost: () => this.leaseLost() }), 'publishing endpoints');
      } catch (err) {
        this.mustPublish = true;
        throw err;
      }
      this.published = { at: new Date(this.deps.timers.now()).toISOString(), endpoints: w.endpoints };
    };
    const p = this.publishing.then(run);
    this.publishing = p.catch(() => undefined);
    return p;
  }

  private leaseLost(): void {
    this.mustPublish = true;
    if (!this.stopping) void this.sync();
  }

  // ---- watching ----

  private onStoreChange(e: StoreChange): void {
    if (this.stopping) return;
    const node = this.wanted?.node;
    if (node !== undefined && e.node === node) {
      // This node's own keys: its publications come back as puts (and deletes of keys it no
      // longer wants). A delete of a key it still publishes is someone else's doing (the lease
      // expired, an operator): publish again.
      const ours = (list: readonly PeerEndpoint[] | undefined) => list?.some((p) => p.network === e.network && p.container === e.container) ?? false;
      if (e.type === 'delete' && ours(this.wanted?.endpoints) && ours(this.published?.endpoints)) {
        this.deps.log.warn({ key: e.key }, 'this node\'s endpoint was deleted from the store; publishing again');
        this.mustPublish = true;
        void this.sync();
      }
      return;
    }
    this.changes++;
    this.deps.log.debug({ type: e.type, key: clip(e.key, 200) }, 'membership store changed');
    this.deps.onChange();
  }

  private onConnection(up: boolean, err: Error | undefined): void {
    if (this.stopping) return;
    this.watching = up;
    if (!up) return this.fail('watch', err ?? new WeftError('STORE', `membership store ${redactSecrets(this.store.url)}: the watch disconnected`));
    // Up (again): what it missed is replayed; make sure the reads and this node's publication are current.
    if (this.failure) {
      if (this.retryTimer !== undefined) this.deps.timers.clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      void this.sync();
    }
  }

  // ---- failures and the probe ----

  private fail(op: StoreOp, err: unknown): void {
    if (this.stopping) return;
    const first = this.failure === undefined;
    this.failure = { op, message: message(err), at: new Date(this.deps.timers.now()).toISOString() };
    this.errors[op]++;
    const fields = { op, err: this.failure.message, remoteEndpoints: this.status().remoteEndpoints };
    if (first) this.deps.log.error(fields, 'membership store unreachable; keeping the last known endpoints and trying again');
    else this.deps.log.debug(fields, 'membership store still unreachable');
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.stopping || this.retryTimer !== undefined || this.syncing) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.deps.options.retryMs.max, this.retryDelay * 2);
    this.retryTimer = this.deps.timers.setTimeout(() => {
      this.retryTimer = undefined;
      void this.sync();
    }, delay);
  }

  /** Reads the store and publishes if needed; on success the daemon reconciles with what it holds now. */
  private sync(): Promise<void> {
    this.syncing ??= this.trySync().finally(() => {
      this.syncing = undefined;
      if (this.failure) this.scheduleProbe();
    });
    return this.syncing;
  }

  private async trySync(): Promise<void> {
    if (this.stopping) return;
    let op: StoreOp = 'read';
    let changed: boolean;
    try {
      changed = this.remember(await this.bounded(this.store.endpoints(), 'reading endpoints'));
      op = 'publish';
      if (this.mustPublish && this.wanted) await this.publish();
    } catch (err) {
      this.fail(op, err);
      return;
    }
    // Reads work, but changes cannot be followed yet: stay unready until the watch is back.
    if (!this.watching) return;
    const was = this.failure;
    this.failure = undefined;
    this.retryDelay = this.deps.options.retryMs.min;
    if (was) this.deps.log.info({ remoteEndpoints: this.status().remoteEndpoints, since: was.at }, 'membership store reachable again');
    // Reconcile with what the store holds now (it changed, or changes may have been missed).
    if (was || changed) this.deps.onChange();
  }

  private bounded<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.deps.options.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = this.deps.timers.setTimeout(() => reject(new WeftError('STORE', `membership store ${redactSecrets(this.store.url)}: ${what}: no answer within ${ms} ms`)), ms);
      p.then(
        (v) => {
          this.deps.timers.clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          this.deps.timers.clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
