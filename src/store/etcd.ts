import { Etcd3 } from 'etcd3';
import type { Lease, Watcher } from 'etcd3';
import type { PeerEndpoint } from '../compile/index.js';
import { UsageError, WeftError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseEndpoint } from './endpoints.js';
import type { StoreChange } from './endpoints.js';
import type { StoreRejections } from './rejections.js';

/**
 * The membership store on etcd (v3 API): each node publishes its local endpoints on global
 * networks under a lease, and programs its peers from what the others published. A node that
 * stops renewing its lease (it died, or stopped applying) has its endpoints expire after the TTL.
 *
 * Keys, all under /weft/v1/:
 *   nodes/<node>                               {"node","address","lease"}   (the node's heartbeat)
 *   endpoints/<node>/<network>/<container>     a PeerEndpoint as JSON
 *
 * Two ways to use it:
 * - one-shot (`weft apply --store`): read the peers, apply, then publish() with a fresh lease of
 *   ttl seconds and revoke the node's previous one. Run apply again within the TTL (a timer, or
 *   the daemon) or the node's endpoints expire.
 * - long-running (the daemon): publish(..., {keepAlive: true}) after every reconcile keeps one
 *   lease alive in the background; watch() calls back on every change of the others' endpoints,
 *   so the daemon reconciles (debounced) when a peer comes or goes; close({revoke: true}) on a
 *   clean stop withdraws the node at once.
 */

export const STORE_ROOT = '/weft/v1/';
const DEFAULT_TTL = 60;

export interface StoreConfig {
  url: string;
  /** http(s)://host:port for each endpoint of the cluster. */
  hosts: string[];
  /** Lease TTL in seconds. */
  ttl: number;
  /** etcds://: TLS to every endpoint. */
  tls: boolean;
}

/**
 * How weft proves itself to etcd and checks etcd: TLS files (PEM) and a user with a password.
 * Never printed or logged.
 */
export interface StoreCredentials {
  /** CA certificates that sign the store's server certificates (default: the system's). */
  ca?: Buffer;
  /** A client certificate and its key, for stores that require client-certificate auth. */
  cert?: Buffer;
  key?: Buffer;
  user?: string;
  password?: string;
}

/**
 * etcd://HOST:PORT[,HOST:PORT...][?ttl=SECONDS], or etcds:// for TLS. Credentials never go in
 * the URL (it shows in /status and logs). Throws UsageError for anything else; its message
 * never repeats what could be a password.
 */
export function parseStoreUrl(url: string): StoreConfig {
  const m = /^(etcds?):\/\/([^/?@]+)\/?(?:\?(.*))?$/.exec(url);
  if (/^etcds?:\/\/[^/?]*@/.test(url)) {
    throw new UsageError('--store: credentials do not belong in the URL; pass --store-user and the password in WEFT_STORE_PASSWORD or --store-password-file');
  }
  if (!m?.[2]) throw new UsageError(`--store ${url}: write etcd://HOST:PORT or etcds://HOST:PORT for TLS (several as etcd://h1:2379,h2:2379), optionally ?ttl=SECONDS`);
  const tls = m[1] === 'etcds';
  const hosts = m[2].split(',').map((h) => h.trim());
  if (hosts.some((h) => !/^[A-Za-z0-9.-]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/.test(h))) {
    throw new UsageError(`--store ${url}: each endpoint is HOST:PORT, e.g. 198.18.77.254:2379`);
  }
  let ttl = DEFAULT_TTL;
  for (const [k, v] of new URLSearchParams(m[3] ?? '')) {
    if (k !== 'ttl' || !/^\d+$/.test(v) || Number(v) < 2) throw new UsageError('--store: the only URL option is ttl=SECONDS (at least 2)');
    ttl = Number(v);
  }
  return { url, hosts: hosts.map((h) => `${tls ? 'https' : 'http'}://${h}`), ttl, tls };
}

export function endpointKey(e: Pick<PeerEndpoint, 'node' | 'network' | 'container'>): string {
  return `${STORE_ROOT}endpoints/${e.node}/${e.network}/${e.container}`;
}

/** A changed key as a StoreChange: whose endpoint it is, when the key has the endpoint layout. */
export function storeChange(type: StoreChange['type'], key: string): StoreChange {
  const [node, network, container, ...rest] = key.startsWith(`${STORE_ROOT}endpoints/`) ? key.slice(`${STORE_ROOT}endpoints/`.length).split('/') : [];
  if (!node || !network || !container || rest.length > 0) return { type, key };
  return { type, key, node, network, container };
}

/**
 * What a publication writes: the keys to delete and the keys to put. Under the same lease, keys
 * whose value is already stored are left alone, so a change of one container costs the store (and
 * every watcher) one event, not one per endpoint of the node. A new lease rewrites every key. Pure.
 */
export function publishChange(existing: Readonly<Record<string, string>>, wanted: ReadonlyMap<string, string>, sameLease: boolean): { deletes: string[]; puts: [string, string][] } {
  return {
    deletes: Object.keys(existing).filter((k) => !wanted.has(k)),
    puts: [...wanted].filter(([k, v]) => !sameLease || existing[k] !== v),
  };
}

/** The watch stream's reconnection delays: doubling from 250 ms to 5 s (etcd3's default goes up to 30 s). */
interface Backoff {
  readonly duration: number;
  next(): Backoff;
}
function watchBackoff(ms: number): Backoff {
  return { duration: ms, next: () => watchBackoff(Math.min(5000, ms * 2)) };
}

function nodeKey(node: string): string {
  return `${STORE_ROOT}nodes/${node}`;
}

/** What an etcd client needs beyond its URL: TLS files and user, and where garbage values are counted. */
export interface EtcdStoreOptions {
  credentials?: StoreCredentials;
  rejections?: StoreRejections;
}

/** Talks to etcd. Not a kernel: the only network client in weft besides the DNS forwarder. */
export class EtcdStore {
  private readonly client: Etcd3;
  private lease: Lease | undefined;
  /** The last real failure: etcd3 then fails calls at once for a while ("circuit breaker is open"). */
  private lastFailure: string | undefined;

  constructor(
    readonly config: StoreConfig,
    private readonly log: Logger,
    private readonly opts: EtcdStoreOptions = {},
  ) {
    const c = opts.credentials ?? {};
    this.client = new Etcd3({
      hosts: config.hosts,
      // etcd3 hands these to grpc's createSsl, where a missing CA means the system's.
      ...(config.tls ? { credentials: { rootCertificate: c.ca as Buffer, ...(c.key ? { privateKey: c.key } : {}), ...(c.cert ? { certChain: c.cert } : {}) } } : {}),
      ...(c.user !== undefined ? { auth: { username: c.user, password: c.password ?? '' } } : {}),
      dialTimeout: 3000,
      // Bounded calls: an unreachable store fails an apply instead of hanging it.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5000 }),
      // A daemon's watch should come back soon after the store does.
      faultHandling: { watchBackoff: watchBackoff(250) },
    });
  }

  get url(): string {
    return this.config.url;
  }

  /** Every endpoint any node published (the caller skips its own). Throws WeftError STORE. */
  async endpoints(): Promise<PeerEndpoint[]> {
    const kvs = await this.call('reading endpoints', () => this.client.getAll().prefix(`${STORE_ROOT}endpoints/`).strings());
    const out: PeerEndpoint[] = [];
    for (const [key, value] of Object.entries(kvs)) {
      const e = parseEndpoint(value);
      if (e && key === endpointKey(e)) out.push(e);
      else if (this.opts.rejections) this.opts.rejections.malformed(key);
      else this.log.warn({ key: key.slice(0, 200) }, 'ignoring a store entry that is not an endpoint');
    }
    return out;
  }

  /**
   * Replaces this node's endpoints with `endpoints` in one transaction, under a lease: a fresh one
   * per call (one-shot), or one kept alive in the background (keepAlive, for a daemon; `onLost`
   * hears when that lease could not be renewed in time and has expired: publish again).
   */
  async publish(
    node: string,
    address: string,
    endpoints: readonly PeerEndpoint[],
    opts: { keepAlive?: boolean; onLost?: (err: Error) => void } = {},
  ): Promise<void> {
    const prefix = `${STORE_ROOT}endpoints/${node}/`;
    const existing = await this.call('reading this node\'s endpoints', () => this.client.getAll().prefix(prefix).strings());
    const nodeText = await this.call('reading this node', () => this.client.get(nodeKey(node)).string());
    const previous = parseLeaseId(nodeText);
    const lease = opts.keepAlive ? (this.lease ??= this.keptLease(opts.onLost)) : this.client.lease(this.config.ttl, { autoKeepAlive: false });
    const leaseId = await this.call('granting a lease', () => lease.grant());
    const wanted = new Map(endpoints.map((e) => [endpointKey(e), JSON.stringify(e)]));
    const nodeValue = JSON.stringify({ node, address, lease: leaseId });
    const change = publishChange(existing, wanted, previous === leaseId);
    const ops = [
      ...change.deletes.map((k) => this.client.delete().key(k)),
      ...change.puts.map(([k, v]) => this.client.put(k).value(v).lease(leaseId)),
      ...(nodeText !== nodeValue ? [this.client.put(nodeKey(node)).value(nodeValue).lease(leaseId)] : []),
    ];
    if (ops.length === 0) return;
    // One transaction, so a peer never sees the node half-published. The comparison always holds
    // (a missing key's create revision is 0).
    await this.call('publishing endpoints', () => this.client.if(nodeKey(node), 'Create', '>', -1).then(...ops).commit());
    if (previous !== undefined && previous !== leaseId) {
      // The old lease holds no key any more; revoking it is housekeeping, and it may be gone already.
      await this.revokeLease(previous);
    }
    this.log.info({ node, endpoints: endpoints.length, lease: leaseId }, 'endpoints published');
  }

  /**
   * Calls back on every change of any node's endpoints, until the returned function is called.
   * Returns at once, also while the store does not answer: the watch connects (and reconnects,
   * replaying what it missed) in the background, and `onConnection` hears when it is up or down.
   */
  async watch(onChange: (e: StoreChange) => void, onConnection?: (connected: boolean, err?: Error) => void): Promise<() => Promise<void>> {
    let watcher: Watcher | undefined;
    let cancelled = false;
    const disconnected = (err: Error) => {
      this.lastFailure = errorMessage(err);
      onConnection?.(false, new WeftError('STORE', `membership store ${this.config.url}: watching endpoints failed: ${this.lastFailure}`, { cause: err }));
    };
    const failed = (err: Error) => {
      this.log.warn({ err: String(err) }, 'store watch failed');
      disconnected(err);
    };
    this.client
      .watch()
      .prefix(`${STORE_ROOT}endpoints/`)
      .create()
      .then(async (w) => {
        watcher = w;
        if (cancelled) return w.cancel();
        w.on('put', (kv) => onChange(storeChange('put', kv.key.toString())));
        w.on('delete', (kv) => onChange(storeChange('delete', kv.key.toString())));
        w.on('connected', () => onConnection?.(true));
        w.on('disconnected', disconnected);
        w.on('error', failed);
        onConnection?.(true);
      }, failed)
      .catch((err: unknown) => this.log.warn({ err: String(err) }, 'store watch failed'));
    return async () => {
      cancelled = true;
      await watcher?.cancel();
    };
  }

  /**
   * Closes the connection; with revoke, this node's endpoints disappear at once (a clean stop).
   * A store that does not answer holds the close up for at most `timeoutMs`.
   */
  async close(opts: { revoke?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.lease && opts.revoke) {
      const revoked = this.lease.revoke().catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([revoked, new Promise((r) => (timer = setTimeout(r, opts.timeoutMs ?? 5000)))]);
      clearTimeout(timer);
    } else this.lease?.release();
    this.client.close();
  }

  private keptLease(onLost: ((err: Error) => void) | undefined): Lease {
    const lease = this.client.lease(this.config.ttl);
    lease.on('lost', (err) => {
      // Expired (e.g. the store was unreachable for longer than the TTL): the next publish starts a new one.
      this.log.warn({ err: String(err) }, 'store lease lost; publishing again');
      if (this.lease === lease) this.lease = undefined;
      onLost?.(err);
    });
    return lease;
  }

  private async revokeLease(id: string): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      const out = await fn();
      this.lastFailure = undefined;
      return out;
    } catch (err) {
      // After a few failures etcd3 stops trying for a while; say why it failed in the first place.
      const broken = (err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true;
      const message = broken && this.lastFailure ? `${this.lastFailure} (not tried again yet)` : errorMessage(err);
      if (!broken) this.lastFailure = message;
      throw new WeftError('STORE', `membership store ${this.config.url}: ${what} failed: ${message}`, { cause: err });
    }
  }
}

/** grpc appends an empty "Resolution note:" to connection errors. */
function errorMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*Resolution note:\s*$/, '');
}

function parseLeaseId(text: string | null): string | undefined {
  if (!text) return undefined;
  try {
    const v = (JSON.parse(text) as { lease?: unknown }).lease;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
