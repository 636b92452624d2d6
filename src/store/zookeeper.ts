import zookeeper from 'node-zookeeper-client';
import type { Client, Event, Stat } from 'node-zookeeper-client';
import type { PeerEndpoint } from '../compile/index.js';
import { UsageError, WeftError } from '../errors.js';
import type { Logger } from '../log.js';
import { canonicalEndpoint, parseEndpoint } from './endpoints.js';
import type { StoreChange } from './endpoints.js';

/**
 * The membership store on ZooKeeper, with the semantics of the etcd one (src/store/etcd.ts):
 *
 *   /weft/v1/members/<node>   {"node","address","endpoints":[PeerEndpoint...]}   one znode per node
 *
 * - A daemon (publish with keepAlive) writes its znode as EPHEMERAL: the ZooKeeper session is the
 *   lease. A clean stop closes the session and the znode goes at once; a killed daemon's znode goes
 *   when its session times out (ttl seconds, as the server negotiates it). A session that expired
 *   (the store was away for longer) is replaced by a new one, and `onLost` asks for a new publish.
 * - A one-shot `apply --store` cannot keep a session: it writes a PERSISTENT znode marked oneShot
 *   with its ttl; readers treat it as gone ttl seconds after its last write (the server's mtime),
 *   and delete it then. Run apply again within the TTL, as with etcd.
 * - One znode per node, not per endpoint: a node's endpoints change together in one write, a
 *   peer never sees half of them, and a watcher needs one data watch per node (ZooKeeper watches
 *   are one-shot and not recursive in the client used here).
 * - watch() keeps a copy of every member, refreshed by those watches (a children watch on
 *   members/, a data watch per member); changes are reported per endpoint with etcd's key layout,
 *   so the daemon handles both stores alike. While the watch is in step, endpoints() answers from
 *   that copy: a reconcile costs the store nothing (etcd reads the whole prefix each time).
 */

const ROOT = '/weft/v1';
const MEMBERS = `${ROOT}/members`;
/** etcd's endpoint key prefix, for StoreChange keys (same layout with both stores). */
const ENDPOINT_KEYS = '/weft/v1/endpoints/';
const DEFAULT_TTL = 60;
const CALL_TIMEOUT_MS = 5000;
/** How long a session handshake may wait for the server's answer (the client library has no limit). */
const HANDSHAKE_TIMEOUT_MS = 5000;

export interface ZkStoreConfig {
  url: string;
  /** host:port,host:port for the client. */
  servers: string;
  /** Session timeout (and one-shot lifetime) in seconds. */
  ttl: number;
  /** A handshake unanswered this long is abandoned and tried again (default: a third of the TTL, 5 s at most). */
  handshakeTimeoutMs?: number;
}

/** zk://HOST:PORT[,HOST:PORT...][?ttl=SECONDS]. Throws UsageError for anything else. */
export function parseZkUrl(url: string): ZkStoreConfig {
  const m = /^zk:\/\/([^/?]+)\/?(?:\?(.*))?$/.exec(url);
  if (!m?.[1]) throw new UsageError(`--store ${url}: write zk://HOST:PORT (several as zk://h1:2181,h2:2181), optionally ?ttl=SECONDS`);
  const hosts = m[1].split(',').map((h) => h.trim());
  if (hosts.some((h) => !/^[A-Za-z0-9.-]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/.test(h))) {
    throw new UsageError(`--store ${url}: each server is HOST:PORT, e.g. 198.18.0.254:2181`);
  }
  let ttl = DEFAULT_TTL;
  for (const [k, v] of new URLSearchParams(m[2] ?? '')) {
    if (k !== 'ttl' || !/^\d+$/.test(v) || Number(v) < 2) throw new UsageError(`--store ${url}: the only option is ttl=SECONDS (at least 2)`);
    ttl = Number(v);
  }
  return { url, servers: hosts.join(','), ttl };
}

/** What a member znode holds. */
export interface MemberRecord {
  node: string;
  address: string;
  endpoints: PeerEndpoint[];
  /** Written by a one-shot apply (a persistent znode): gone ttl seconds after its last write. */
  oneShot?: { ttl: number };
}

/**
 * A member znode's data back into a record; undefined when it is not one. Endpoints that do not
 * parse, or that name another node than the znode, are dropped (a node speaks for itself only). Pure.
 */
export function parseMember(name: string, data: Buffer | undefined): MemberRecord | undefined {
  if (!data) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o['node'] !== name || typeof o['address'] !== 'string' || !Array.isArray(o['endpoints'])) return undefined;
  const endpoints = o['endpoints']
    .map((e) => parseEndpoint(JSON.stringify(e)))
    .filter((e): e is PeerEndpoint => e !== undefined && e.node === name);
  const rec: MemberRecord = { node: name, address: o['address'], endpoints };
  const ttl = (o['oneShot'] as { ttl?: unknown } | undefined)?.ttl;
  if (typeof ttl === 'number' && ttl > 0) rec.oneShot = { ttl };
  return rec;
}

/** When a one-shot record stops counting (ms since the epoch), from the server's mtime; Infinity for a daemon's. Pure. */
export function expiresAt(rec: MemberRecord, mtime: Buffer | undefined): number {
  if (!rec.oneShot || !mtime || mtime.length < 8) return Infinity;
  return Number(mtime.readBigInt64BE(0)) + rec.oneShot.ttl * 1000;
}

/** The per-endpoint changes from one member's endpoints to another's, with etcd's key layout. Pure. */
export function memberChanges(node: string, before: readonly PeerEndpoint[], after: readonly PeerEndpoint[]): StoreChange[] {
  const key = (e: PeerEndpoint) => `${e.network}/${e.container}`;
  const was = new Map(before.map((e) => [key(e), canonicalEndpoint(e)]));
  const now = new Map(after.map((e) => [key(e), canonicalEndpoint(e)]));
  const change = (type: StoreChange['type'], k: string): StoreChange => {
    const [network, container] = k.split('/') as [string, string];
    return { type, key: `${ENDPOINT_KEYS}${node}/${k}`, node, network, container };
  };
  const out: StoreChange[] = [];
  for (const [k, v] of now) if (was.get(k) !== v) out.push(change('put', k));
  for (const k of was.keys()) if (!now.has(k)) out.push(change('delete', k));
  return out;
}

interface Member {
  rec: MemberRecord;
  expires: number;
  version: number;
}

type Callback<T> = (err: Error | zookeeper.Exception | null, value: T, stat?: Stat) => void;

/** Talks to ZooKeeper. Same public surface as EtcdStore. */
export class ZkStore {
  private client: Client;
  private connected = false;
  /** Every member as the watch last saw it (the watch's copy). */
  private readonly members = new Map<string, Member>();
  /** The copy is complete and followed by live watches. */
  private inStep = false;
  private watching: { onChange: (e: StoreChange) => void; onConnection?: ((connected: boolean, err?: Error) => void) | undefined } | undefined;
  /** Data watches set, so a member is never watched twice. */
  private readonly dataWatched = new Set<string>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private onLost: ((err: Error) => void) | undefined;
  private closing = false;
  /** Store requests made (for the cluster bench's load figures; /metrics could export it). */
  requests = 0;

  constructor(readonly config: ZkStoreConfig, private readonly log: Logger) {
    this.client = this.newClient();
  }

  get url(): string {
    return this.config.url;
  }

  /** Every endpoint any node published, one-shot ones past their TTL left out. Throws WeftError STORE. */
  async endpoints(): Promise<PeerEndpoint[]> {
    if (this.inStep && this.connected) return [...this.members.values()].flatMap((m) => m.rec.endpoints);
    const names = await this.call('reading members', (cb: Callback<string[]>) => this.client.getChildren(MEMBERS, cb)).catch((err: unknown) => {
      if (isNoNode(err)) return [] as string[];
      throw err;
    });
    const read = await Promise.all(names.map((n) => this.readMember(n)));
    return read.flatMap((m) => m?.rec.endpoints ?? []);
  }

  /**
   * Replaces this node's znode: EPHEMERAL under this client's session with keepAlive (a daemon;
   * `onLost` hears when the session expired and a new one must be published on), PERSISTENT with
   * the TTL otherwise (one-shot). Throws WeftError STORE.
   */
  async publish(
    node: string,
    address: string,
    endpoints: readonly PeerEndpoint[],
    opts: { keepAlive?: boolean; onLost?: (err: Error) => void } = {},
  ): Promise<void> {
    if (opts.onLost) this.onLost = opts.onLost;
    const rec: MemberRecord = { node, address, endpoints: [...endpoints], ...(opts.keepAlive ? {} : { oneShot: { ttl: this.config.ttl } }) };
    const data = Buffer.from(JSON.stringify(rec));
    const mode = opts.keepAlive ? zookeeper.CreateMode.EPHEMERAL : zookeeper.CreateMode.PERSISTENT;
    const p = `${MEMBERS}/${node}`;
    await this.ensureParents();
    for (let attempt = 0; ; attempt++) {
      try {
        const stat = await this.call('reading this node', (cb: Callback<Stat | null>) => this.client.exists(p, cb));
        const ours = stat && opts.keepAlive && stat.ephemeralOwner.equals(this.client.getSessionId());
        const persistentAlready = stat && !opts.keepAlive && isZero(stat.ephemeralOwner);
        if (ours || persistentAlready) {
          await this.call('publishing endpoints', (cb: Callback<Stat>) => this.client.setData(p, data, stat.version, cb));
        } else {
          // Someone else's (an earlier run's session, or the other kind): replace it in one transaction.
          const tx = this.client.transaction();
          if (stat) tx.remove(p, stat.version);
          tx.create(p, data, mode);
          await this.call('publishing endpoints', (cb: Callback<unknown>) => tx.commit(cb));
        }
        break;
      } catch (err) {
        // Raced with another writer (or the znode's expiry): look again, once.
        if (attempt > 0 || !isRace(err)) throw err;
      }
    }
    this.log.info({ node, endpoints: endpoints.length, session: this.client.getSessionId().toString('hex') }, 'endpoints published');
  }

  /** As EtcdStore.watch: returns at once; follows members/ in the background. */
  watch(onChange: (e: StoreChange) => void, onConnection?: (connected: boolean, err?: Error) => void): Promise<() => Promise<void>> {
    this.watching = { onChange, onConnection };
    if (this.connected) void this.resync();
    return Promise.resolve(() => {
      this.watching = undefined;
      this.inStep = false;
      return Promise.resolve();
    });
  }

  /** Closes the session: its ephemeral znode (this node's endpoints) goes at once. Waits at most timeoutMs. */
  async close(opts: { revoke?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.closing = true;
    this.watching = undefined;
    clearTimeout(this.expiryTimer);
    const client = this.client;
    const closed = new Promise<void>((resolve) => client.once('disconnected', resolve));
    closeQuietly(client);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, opts.timeoutMs ?? 3000)))]);
    clearTimeout(timer);
    dropSocket(client);
  }

  // ---- the session ----

  private newClient(): Client {
    const client = zookeeper.createClient(this.config.servers, { sessionTimeout: this.config.ttl * 1000, spinDelay: 250, retries: 0 });
    client.on('state', (s: zookeeper.State) => {
      if (client !== this.client || this.closing) return;
      if (s === zookeeper.State.SYNC_CONNECTED) this.up();
      else if (s === zookeeper.State.DISCONNECTED) this.down(new Error('connection to the store lost'));
      else if (s === zookeeper.State.EXPIRED) this.expired();
    });
    client.connect();
    this.watchHandshakes(client);
    return client;
  }

  /**
   * The client library waits for the server's answer to its session request without a deadline:
   * a connection the kernel accepted for a ZooKeeper that was still starting (or that never read
   * it) left the daemon disconnected for good, though the server was back (seen after a store
   * restart under load). As ZooKeeper's own Java client does, a handshake unanswered within the
   * deadline is abandoned: closing the socket makes the library connect again.
   */
  private watchHandshakes(client: Client): void {
    const limit = this.config.handshakeTimeoutMs ?? Math.min(HANDSHAKE_TIMEOUT_MS, (this.config.ttl * 1000) / 3);
    let waiting: object | undefined;
    let since = 0;
    const timer = setInterval(() => {
      if (client !== this.client || this.closing) {
        clearInterval(timer);
        return;
      }
      const sock = socketOf(client);
      // Only a socket that is connected, not yet in a session, and the same one as last time.
      if (this.connected || !sock || sock.connecting || sock.destroyed) {
        waiting = undefined;
      } else if (waiting !== sock) {
        waiting = sock;
        since = Date.now();
      } else if (Date.now() - since >= limit) {
        this.log.warn({ waitedMs: Date.now() - since }, 'the store did not answer the session request; connecting again');
        waiting = undefined;
        sock.destroy();
      }
    }, Math.max(50, Math.min(500, limit / 4)));
    timer.unref();
  }

  private up(): void {
    this.connected = true;
    if (this.watching) void this.resync();
  }

  private down(err: Error): void {
    this.connected = false;
    this.inStep = false;
    this.watching?.onConnection?.(false, new WeftError('STORE', `membership store ${this.config.url}: ${err.message}`));
  }

  /** The session expired (the store was away longer than the TTL): a new one, and this node publishes again. */
  private expired(): void {
    this.log.warn({}, 'store session expired; starting a new one');
    const old = this.client;
    this.connected = false;
    this.inStep = false;
    this.dataWatched.clear();
    this.client = this.newClient();
    closeQuietly(old);
    dropSocket(old);
    this.onLost?.(new Error('the ZooKeeper session expired'));
  }

  // ---- the watch's copy ----

  /** Reads every member again (after connecting), sets the watches, and reports what changed. */
  private async resync(): Promise<void> {
    try {
      await this.ensureParents();
      await this.refreshChildren();
      if (!this.connected || !this.watching) return;
      this.inStep = true;
      this.watching.onConnection?.(true);
    } catch (err) {
      this.log.debug({ err: String(err) }, 'store watch resync failed');
      if (this.connected && this.watching && !this.closing) setTimeout(() => void this.resync(), 500).unref();
    }
  }

  private async refreshChildren(): Promise<void> {
    const watcher = (e: Event) => {
      if (e.getType() === zookeeper.Event.NODE_CHILDREN_CHANGED && this.watching) void this.refreshChildren().catch(() => undefined);
    };
    const names = await this.call('watching members', (cb: Callback<string[]>) => this.client.getChildren(MEMBERS, watcher, cb));
    const present = new Set(names);
    for (const name of [...this.members.keys()]) if (!present.has(name)) this.setMember(name, undefined);
    await Promise.all(names.filter((n) => !this.dataWatched.has(n)).map((n) => this.refreshMember(n)));
  }

  private async refreshMember(name: string): Promise<void> {
    this.dataWatched.add(name);
    const watcher = (e: Event) => {
      this.dataWatched.delete(name);
      if (!this.watching) return;
      if (e.getType() === zookeeper.Event.NODE_DELETED) this.setMember(name, undefined);
      else void this.refreshMember(name).catch(() => undefined);
    };
    try {
      this.setMember(name, await this.readMember(name, watcher));
    } catch (err) {
      this.dataWatched.delete(name);
      if (!isNoNode(err)) throw err;
      this.setMember(name, undefined);
    }
  }

  private setMember(name: string, m: Member | undefined): void {
    const before = this.members.get(name)?.rec.endpoints ?? [];
    if (m) this.members.set(name, m);
    else this.members.delete(name);
    this.scheduleExpiry();
    for (const c of memberChanges(name, before, m?.rec.endpoints ?? [])) this.watching?.onChange(c);
  }

  /** One-shot members drop out of the copy when their TTL runs out, as a lease's keys would. */
  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    const next = Math.min(...[...this.members.values()].map((m) => m.expires));
    if (!Number.isFinite(next)) return;
    this.expiryTimer = setTimeout(() => {
      for (const [name, m] of this.members) if (m.expires <= Date.now()) this.setMember(name, undefined);
    }, Math.max(0, next - Date.now()) + 10);
    this.expiryTimer.unref();
  }

  /** A member znode, or undefined when it is absent, not a member, or a one-shot past its TTL (then deleted). */
  private async readMember(name: string, watcher?: (e: Event) => void): Promise<Member | undefined> {
    const p = `${MEMBERS}/${name}`;
    const [data, stat] = await this.call('reading a member', (cb: Callback<[Buffer, Stat | undefined]>) => {
      const done = (err: Error | zookeeper.Exception | null, d: Buffer, s: Stat) => cb(err, [d, s]);
      if (watcher) this.client.getData(p, watcher, done);
      else this.client.getData(p, done);
    }).catch((err: unknown) => {
      if (isNoNode(err)) return [undefined, undefined] as const;
      throw err;
    });
    const rec = parseMember(name, data);
    if (!rec) {
      if (data) this.log.warn({ znode: p }, 'ignoring a store entry that is not a member');
      return undefined;
    }
    const expires = expiresAt(rec, stat?.mtime);
    if (expires <= Date.now()) {
      // Housekeeping for a one-shot apply that was not run again; someone may have renewed it (version).
      if (stat) this.client.remove(p, stat.version, () => undefined);
      return undefined;
    }
    return { rec, expires, version: stat?.version ?? -1 };
  }

  private async ensureParents(): Promise<void> {
    await this.call('creating /weft/v1/members', (cb: Callback<string>) => this.client.mkdirp(MEMBERS, cb));
  }

  /** One store request with a deadline, its error as WeftError STORE. */
  private call<T>(what: string, fn: (cb: Callback<T>) => void): Promise<T> {
    this.requests++;
    return new Promise<T>((resolve, reject) => {
      const fail = (err: unknown) => reject(storeError(this.config.url, what, err));
      const timer = setTimeout(() => fail(new Error(this.connected ? `no answer within ${CALL_TIMEOUT_MS} ms` : 'not connected')), CALL_TIMEOUT_MS);
      fn((err, value) => {
        clearTimeout(timer);
        if (err) fail(err);
        else resolve(value);
      });
    });
  }
}

function storeError(url: string, what: string, err: unknown): WeftError {
  const text = err instanceof Error ? err.message : String(err);
  const e = new WeftError('STORE', `membership store ${url}: ${what} failed: ${text}`, { cause: err });
  const code = zkCode(err);
  if (code !== undefined) (e as { zkCode?: number }).zkCode = code;
  return e;
}

function zkCode(err: unknown): number | undefined {
  const e = err as { getCode?: () => number; zkCode?: number } | undefined;
  return typeof e?.getCode === 'function' ? e.getCode() : e?.zkCode;
}

function isNoNode(err: unknown): boolean {
  return zkCode(err) === zookeeper.Exception.NO_NODE;
}

function isRace(err: unknown): boolean {
  const code = zkCode(err);
  return code === zookeeper.Exception.NODE_EXISTS || code === zookeeper.Exception.NO_NODE || code === zookeeper.Exception.BAD_VERSION;
}

function isZero(b: Buffer): boolean {
  return b.every((x) => x === 0);
}

/** Closes the session; the client library throws when that happens before its socket exists (closed right after opening). */
function closeQuietly(client: Client): void {
  try {
    client.close();
  } catch {
    /* not connected yet: the close request goes out if it ever connects, and nothing is left otherwise */
  }
}

interface ClientSocket {
  connecting: boolean;
  destroyed: boolean;
  destroy(): void;
}

/** The client library's current socket (not part of its API: read defensively). */
function socketOf(client: Client): ClientSocket | undefined {
  return (client as unknown as { connectionManager?: { socket?: ClientSocket } }).connectionManager?.socket;
}

/** The client library keeps reconnecting a closed client's socket in some states: end it for good. */
function dropSocket(client: Client): void {
  socketOf(client)?.destroy();
}
