import dgram from 'node:dgram';
import net from 'node:net';
import type { DnsClient, DnsConfig } from '../compile/index.js';
import type { Logger } from '../log.js';
import { forwardTcp, forwardUdp } from './forward.js';
import { RecordStore } from './store.js';
import type { Decision } from './store.js';
import type { Query, RcodeName } from './wire.js';
import { RCODE, RCODE_NAMES, buildResponse, errorResponse, parseQuery, rcodeOf, sizeLimit } from './wire.js';

export interface DnsServerOptions {
  log: Logger;
  /** Where each client's sockets come from (its namespace's 127.0.0.11:53 in production). */
  sockets: SocketSource;
  /** How long to wait for one upstream before trying the next (then SERVFAIL). */
  upstreamTimeoutMs?: number;
  /** How often to retry clients whose sockets cannot be opened yet (the namespace is not there yet). */
  bindRetryMs?: number;
  /** Bounds against floods and slow clients (DNS_SERVER_LIMITS by default). */
  limits?: Partial<DnsServerLimits>;
}

/** What one client, or all of them, may hold of the server at once. */
export interface DnsServerLimits {
  /** Forwarded queries waiting for upstreams, in all; more get SERVFAIL. */
  maxInFlight: number;
  /** The same per client container (its sockets): a flooding container exhausts its own share only. */
  maxInFlightPerSource: number;
  /**
   * Queries per second from one client container while other sources ask too; the rest of that
   * second's queries are dropped unread (cheaper than answering them, so a flood costs the server
   * less than it costs the flooder). A source alone is not limited: there is nobody to protect
   * (and a benchmark from one address measures the server, not the limit).
   */
  maxQueriesPerSecondPerSource: number;
  /** TCP connections open at once, in all and per client container; more are closed on accept. */
  maxTcpConnections: number;
  maxTcpPerSource: number;
  /** The longest TCP frame (a query) accepted; a longer length prefix closes the connection. */
  maxTcpFrame: number;
  /** A TCP connection with nothing to read or write for this long is closed. */
  tcpIdleMs: number;
  /** A TCP connection whose answers are not read (writes blocked) for this long is closed. */
  tcpStallMs: number;
}

/** A client's sockets: descriptors made inside its namespace, or (tests) an address to bind. */
export interface OpenedSockets {
  udp: { fd: number } | { address: string; port: number };
  tcp: { fd: number } | { host: string; port: number };
  /** The identity of the namespace they were made in (see SocketSource.current). */
  key?: string;
}

/** Opens and tracks the per-client sockets; the server only serves them. */
export interface SocketSource {
  /** The client's sockets, or null when its namespace does not exist (yet). Rejects when it cannot bind. */
  open(client: DnsClient): Promise<OpenedSockets | null>;
  /** False when sockets opened with `key` no longer belong to the client's namespace (its name was removed or reused). */
  current(client: DnsClient, key: string | undefined): boolean;
  /** Closes sockets that were opened but never served (the client left meanwhile, or Node refused them). */
  discard(sockets: Partial<OpenedSockets>): void;
  /** Calls `changed` when a namespace may have gone (its path, or null for any); returns how to stop. */
  watch(changed: (netns: string | null) => void): () => void;
}

/** Receive buffer of each UDP socket, bytes (net.core.rmem_max caps it). */
const UDP_RECEIVE_BUFFER = 1024 * 1024;
/** Queries one TCP connection may have answered per event-loop turn. */
const TCP_BATCH = 64;

export const DNS_SERVER_LIMITS: DnsServerLimits = {
  maxInFlight: 2048,
  maxInFlightPerSource: 128,
  maxQueriesPerSecondPerSource: 5000,
  maxTcpConnections: 512,
  maxTcpPerSource: 32,
  maxTcpFrame: 4096,
  tcpIdleMs: 10_000,
  tcpStallMs: 5_000,
};

/** Counters for status and Prometheus metrics. */
export interface DnsStats {
  /** Responses sent, by response code (forwarded ones by the upstream's code). */
  responses: Record<RcodeName | 'OTHER', number>;
  /** Queries sent on to an upstream resolver. */
  forwarded: number;
  /** Responses truncated for UDP (the client retries over TCP). */
  truncated: number;
  /** Containers whose namespace the server listens in now. */
  listening: string[];
  /** Containers it should listen for but cannot yet (namespace missing, loopback down). */
  pending: string[];
  /** Containers it answers. */
  clients: number;
  /** Packets whose handling failed unexpectedly (dropped, logged; the server carries on). */
  errors: number;
  /** Forwarded queries answered SERVFAIL because a client or the server had too many in flight. */
  limited: number;
  /** Queries dropped unread because their source sent more than maxQueriesPerSecondPerSource. */
  rateLimited: number;
  /** TCP connections closed: at accept (over a cap), for a frame too long, or for not reading answers. */
  tcpClosed: { overCap: number; frameTooLong: number; stalled: number };
}

/** A query for the upstreams. */
interface Forward {
  q: Query;
  upstreams: readonly string[];
}

/** One client's sockets: the socket a query arrives on names the container that asked. */
interface Listener {
  client: DnsClient;
  udp?: dgram.Socket;
  tcp?: net.Server;
  /** The namespace identity the sockets were made in. */
  key?: string;
  /** Waiting for the socket source. */
  opening?: boolean;
  /** Bound and serving (the sockets above exist from the bind attempt on). */
  udpUp?: boolean;
  tcpUp?: boolean;
  /** The last open or bind error, logged once per kind. */
  lastError?: string;
}

/**
 * The embedded DNS server: a UDP and a TCP socket per client container (bound to 127.0.0.11:53
 * inside its namespace, made by the namespace worker), answers from the record store, forwarding
 * for the rest from this process's namespace. Never throws from a socket event.
 */
export class DnsServer {
  private store = new RecordStore({ networks: [], clients: [] });
  /** By container name. */
  private readonly listeners = new Map<string, Listener>();
  /** The same by namespace path, for namespace removals. */
  private readonly byNetns = new Map<string, Listener>();
  private readonly sockets: SocketSource;
  private readonly unwatch: () => void;
  private readonly counts = new Array<number>(16).fill(0);
  private forwarded = 0;
  private truncated = 0;
  private inFlight = 0;
  private readonly inFlightBySource = new Map<string, number>();
  private tcpConnections = 0;
  private readonly tcpBySource = new Map<string, number>();
  private errors = 0;
  private limited = 0;
  private rateLimited = 0;
  /** Queries per client container in the current second (cleared each second: bounded by one second's packets). */
  private readonly rate = new Map<string, number>();
  private readonly rateTimer: NodeJS.Timeout;
  private readonly tcpClosed = { overCap: 0, frameTooLong: 0, stalled: 0 };
  private readonly limits: DnsServerLimits;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private configText = '';
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly log: Logger;

  constructor(opts: DnsServerOptions) {
    this.log = opts.log;
    this.sockets = opts.sockets;
    this.timeoutMs = opts.upstreamTimeoutMs ?? 1500;
    this.retryMs = opts.bindRetryMs ?? 1000;
    this.limits = { ...DNS_SERVER_LIMITS, ...opts.limits };
    this.rateTimer = setInterval(() => this.rate.clear(), 1000);
    this.rateTimer.unref();
    this.unwatch = this.sockets.watch((netns) => this.recheck(netns));
  }

  /** Replaces the records and the clients; queries in flight finish with the old store. */
  setConfig(config: DnsConfig): void {
    if (this.closed) return;
    // The same records again (a periodic resync): keep the store and its warm answer cache.
    const text = JSON.stringify(config);
    if (text === this.configText) return;
    this.configText = text;
    this.store = new RecordStore(config, this.log);
    const want = new Map(config.clients.map((c) => [c.container, c]));
    for (const [name, l] of this.listeners) {
      const c = want.get(name);
      if (c?.netns === l.client.netns) {
        l.client = c;
        continue;
      }
      this.closeListener(l);
      this.listeners.delete(name);
      this.log.info({ container: name }, 'dns: stopped listening');
    }
    for (const [name, c] of want) if (!this.listeners.has(name)) this.listeners.set(name, { client: c });
    this.byNetns.clear();
    for (const l of this.listeners.values()) this.byNetns.set(l.client.netns, l);
    this.bindMissing();
  }

  /**
   * A namespace may have gone (`netns`, or any for null): sockets made in one that is no longer
   * the client's are closed at once (an open socket would keep a deleted namespace, and its veths,
   * alive), then opened again if the client's namespace comes back.
   */
  private recheck(netns: string | null): void {
    if (this.closed) return;
    const ls = netns === null ? [...this.listeners.values()] : [this.byNetns.get(netns)].filter((l) => l !== undefined);
    let closed = false;
    for (const l of ls) {
      if (!l.udp && !l.tcp) continue;
      if (this.sockets.current(l.client, l.key)) continue;
      void this.closeListener(l);
      closed = true;
      this.log.info({ container: l.client.container, netns: l.client.netns }, 'dns: namespace gone; sockets closed');
    }
    if (closed) this.bindMissing();
  }

  stats(): DnsStats {
    const responses = Object.fromEntries(RCODE_NAMES.map((n) => [n, this.counts[RCODE[n]] ?? 0])) as DnsStats['responses'];
    responses.OTHER = this.counts.reduce((a, n, i) => a + (RCODE_NAMES.some((name) => RCODE[name] === i) ? 0 : n), 0);
    const listening: string[] = [];
    const pending: string[] = [];
    for (const [name, l] of this.listeners) (l.udpUp && l.tcpUp ? listening : pending).push(name);
    return {
      responses,
      forwarded: this.forwarded,
      truncated: this.truncated,
      listening: listening.sort(),
      pending: pending.sort(),
      clients: this.store.clientCount,
      errors: this.errors,
      limited: this.limited,
      rateLimited: this.rateLimited,
      tcpClosed: { ...this.tcpClosed },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unwatch();
    clearInterval(this.rateTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all([...this.listeners.values()].map((l) => this.closeListener(l)));
    this.listeners.clear();
  }

  private closeListener(l: Listener): Promise<void> {
    const udp = l.udp;
    const tcp = l.tcp;
    delete l.udp;
    delete l.tcp;
    delete l.key;
    l.udpUp = false;
    l.tcpUp = false;
    return new Promise((resolve) => {
      let n = 0;
      const one = () => ++n === 2 && resolve();
      if (udp) udp.close(one);
      else one();
      if (tcp) tcp.close(() => one());
      else one();
    });
  }

  private bindMissing(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    let missing = false;
    for (const l of this.listeners.values()) {
      if (l.udp && l.tcp) continue;
      missing = true;
      if (!l.opening) void this.openListener(l);
    }
    if (missing && !this.closed) {
      this.retryTimer = setTimeout(() => this.bindMissing(), this.retryMs);
      this.retryTimer.unref();
    }
  }

  private bindFailed(l: Listener, proto: string, error: string): void {
    const what = `${proto} ${error}`;
    if (l.lastError !== what) this.log.warn({ container: l.client.container, netns: l.client.netns, proto, error }, 'dns: cannot listen yet; retrying');
    l.lastError = what;
  }

  /** Gets the client's sockets from the source and serves them; on failure the retry timer tries again. */
  private async openListener(l: Listener): Promise<void> {
    l.opening = true;
    // Whatever half is left (one socket failed to bind) is closed: both are opened together.
    await this.closeListener(l);
    let opened: OpenedSockets | null;
    try {
      opened = await this.sockets.open(l.client);
    } catch (err) {
      l.opening = false;
      this.bindFailed(l, 'open', err instanceof Error ? err.message : String(err));
      return;
    }
    l.opening = false;
    if (opened === null) {
      this.bindFailed(l, 'open', 'no such namespace');
      return;
    }
    if (this.closed || this.listeners.get(l.client.container) !== l || l.udp || l.tcp) {
      this.sockets.discard(opened);
      return;
    }
    if (opened.key !== undefined) l.key = opened.key;
    // Node may refuse a descriptor synchronously (not a socket of that kind): never an unhandled
    // rejection, and each descriptor closed once (by its Node socket if it took it, else here).
    const refused = (err: unknown, notTaken: Partial<OpenedSockets>) => {
      void this.closeListener(l);
      this.sockets.discard(notTaken);
      this.bindFailed(l, 'bind', err instanceof Error ? err.message : String(err));
    };
    try {
      this.bindUdp(l, opened.udp);
    } catch (err) {
      refused(err, opened);
      return;
    }
    try {
      this.bindTcp(l, opened.tcp);
    } catch (err) {
      refused(err, { tcp: opened.tcp });
    }
  }

  private bindUdp(l: Listener, where: OpenedSockets['udp']): void {
    const name = l.client.container;
    // Replies go to IP literals: a synchronous lookup spares every send a dns.lookup and a tick.
    const sock = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
    l.udp = sock;
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (l.udp === sock) delete l.udp;
      try {
        sock.close();
      } catch {
        /* never bound: nothing to close */
      }
      this.bindFailed(l, 'udp', err.code ?? err.message);
    });
    sock.bind({ ...where, exclusive: true }, () => {
      sock.removeAllListeners('error');
      // Room for a burst before the kernel drops this container's queries
      // (about 1000 small queries: ~10 ms of work on a free core; the default holds ~200).
      try {
        sock.setRecvBufferSize(UDP_RECEIVE_BUFFER);
      } catch {
        /* capped by net.core.rmem_max: the kernel keeps what it allows */
      }
      // After binding, errors are per datagram (a client gone): nothing to do about them.
      sock.on('error', (err) => this.log.debug({ container: name, error: err.message }, 'dns: udp error'));
      sock.on('message', (msg, rinfo) => this.onUdp(sock, name, msg, rinfo));
      l.udpUp = true;
      this.log.debug({ container: name, proto: 'udp' }, 'dns: listening');
      if (this.closed || this.listeners.get(name) !== l || l.udp !== sock) {
        if (l.udp === sock) delete l.udp;
        sock.close();
      }
    });
  }

  private bindTcp(l: Listener, where: OpenedSockets['tcp']): void {
    const name = l.client.container;
    const server = net.createServer((conn) => this.onTcp(conn, name));
    l.tcp = server;
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (l.tcp === server) delete l.tcp;
      server.close();
      this.bindFailed(l, 'tcp', err.code ?? err.message);
    });
    server.listen({ ...where, exclusive: true }, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => this.log.debug({ container: name, error: err.message }, 'dns: tcp error'));
      l.tcpUp = true;
      this.log.debug({ container: name, proto: 'tcp' }, 'dns: listening');
      if (this.closed || this.listeners.get(name) !== l || l.tcp !== server) {
        if (l.tcp === server) delete l.tcp;
        server.close();
      }
    });
  }

  /**
   * Handles one message: returns the response, null for none (dropped), or what to forward (the
   * caller calls forward() with a way to reply later). The hot path allocates no closure.
   */
  private handle(msg: Buffer, source: string, tcp: boolean): Buffer | null | Forward {
    // `source` is the container whose socket received the query: its view, its limits.
    const q = parseQuery(msg);
    if (!isQuery(q)) {
      if (q.drop) return null;
      this.count(q.rcode);
      return errorResponse(msg, q, q.rcode);
    }
    const d: Decision = this.store.decide(source, q);
    if (d.kind === 'answer') {
      const res = buildResponse(msg, q, d.rcode, d.records, d.count, sizeLimit(q, tcp));
      if (res[2]! & 0x02) this.truncated++;
      this.count(d.rcode);
      return res;
    }
    if (d.kind === 'refuse') {
      this.count(RCODE.REFUSED);
      return errorResponse(msg, q, RCODE.REFUSED, q);
    }
    const overLimit = this.inFlight >= this.limits.maxInFlight || (this.inFlightBySource.get(source) ?? 0) >= this.limits.maxInFlightPerSource;
    if (d.upstreams.length === 0 || overLimit) {
      if (overLimit) this.limited++;
      this.count(RCODE.SERVFAIL);
      return errorResponse(msg, q, RCODE.SERVFAIL, q);
    }
    return { q, upstreams: d.upstreams };
  }

  /** handle(), with any unexpected error caught: the packet is dropped and counted, the server carries on. */
  private handleSafely(msg: Buffer, source: string, tcp: boolean): Buffer | null | Forward {
    try {
      return this.handle(msg, source, tcp);
    } catch (err) {
      this.failed(err, source, tcp);
      return null;
    }
  }

  private failed(err: unknown, source: string, tcp: boolean): void {
    // Logged on the first error and every 1000th after it: a packet that fails every time cannot flood the log.
    if (this.errors++ % 1000 === 0) this.log.warn({ source, proto: tcp ? 'tcp' : 'udp', errors: this.errors, error: err instanceof Error ? err.message : String(err) }, 'dns: packet dropped after an error');
  }

  private forward(msg: Buffer, q: Query, upstreams: readonly string[], tcp: boolean, source: string, reply: (res: Buffer) => void): void {
    this.forwarded++;
    this.inFlight++;
    this.inFlightBySource.set(source, (this.inFlightBySource.get(source) ?? 0) + 1);
    const opts = { timeoutMs: this.timeoutMs };
    const asked = tcp ? forwardTcp(msg, upstreams, opts) : forwardUdp(msg, upstreams, opts);
    void asked
      .catch(() => null)
      .then((res) => {
        this.inFlight--;
        const left = (this.inFlightBySource.get(source) ?? 1) - 1;
        if (left > 0) this.inFlightBySource.set(source, left);
        else this.inFlightBySource.delete(source);
        const out = res ?? errorResponse(msg, q, RCODE.SERVFAIL, q);
        this.count(rcodeOf(out));
        reply(out);
      })
      .catch((err: unknown) => this.failed(err, source, tcp));
  }

  private count(rcode: number): void {
    this.counts[rcode & 0x0f]!++;
  }

  /** Counts a query from `source`; true when it is over its rate and must be dropped. */
  private overRate(source: string): boolean {
    const n = (this.rate.get(source) ?? 0) + 1;
    this.rate.set(source, n);
    if (n <= this.limits.maxQueriesPerSecondPerSource || this.rate.size < 2) return false;
    this.rateLimited++;
    return true;
  }

  private onUdp(sock: dgram.Socket, client: string, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.overRate(client)) return;
    const res = this.handleSafely(msg, client, false);
    if (res === null) return;
    if (Buffer.isBuffer(res)) sendLate(sock, res, rinfo);
    else this.forward(msg, res.q, res.upstreams, false, client, (out) => sendLate(sock, out, rinfo));
  }

  /**
   * One TCP connection: length-prefixed queries, answered in order of completion. Bounded on
   * every side: connections per source and in all, the frame length, idle time, and a client that
   * does not read its answers (reading stops while writes are blocked; closed after tcpStallMs).
   */
  private onTcp(conn: net.Socket, source: string): void {
    const lim = this.limits;
    if (this.tcpConnections >= lim.maxTcpConnections || (this.tcpBySource.get(source) ?? 0) >= lim.maxTcpPerSource) {
      this.tcpClosed.overCap++;
      conn.on('error', () => undefined);
      conn.destroy();
      return;
    }
    let buf: Buffer = Buffer.alloc(0);
    let blocked = false;
    let stall: NodeJS.Timeout | undefined;
    this.tcpConnections++;
    this.tcpBySource.set(source, (this.tcpBySource.get(source) ?? 0) + 1);
    conn.once('close', () => {
      this.tcpConnections--;
      const left = (this.tcpBySource.get(source) ?? 1) - 1;
      if (left > 0) this.tcpBySource.set(source, left);
      else this.tcpBySource.delete(source);
      clearTimeout(stall);
    });
    conn.setTimeout(lim.tcpIdleMs, () => conn.destroy());
    conn.on('error', () => conn.destroy());
    const send = (res: Buffer) => {
      if (conn.destroyed) return;
      const frame = Buffer.allocUnsafe(2 + res.length);
      frame.writeUInt16BE(res.length, 0);
      res.copy(frame, 2);
      if (conn.write(frame) || blocked) return;
      // The client is not reading: read no more queries until it does, and not for ever.
      blocked = true;
      conn.pause();
      stall = setTimeout(() => {
        this.tcpClosed.stalled++;
        conn.destroy();
      }, lim.tcpStallMs);
    };
    let scheduled = false;
    const pump = () => {
      scheduled = false;
      for (let n = 0; !blocked && !conn.destroyed && buf.length >= 2; n++) {
        if (n === TCP_BATCH) {
          // One connection does not hold the event loop: the rest waits for the next turn.
          scheduled = true;
          conn.pause();
          setImmediate(pump);
          return;
        }
        const len = buf.readUInt16BE(0);
        if (len > lim.maxTcpFrame) {
          this.tcpClosed.frameTooLong++;
          conn.destroy();
          return;
        }
        if (buf.length < 2 + len) break;
        const query = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        if (this.overRate(source)) continue;
        const res = this.handleSafely(query, source, true);
        if (res === null) continue;
        if (Buffer.isBuffer(res)) send(res);
        else this.forward(query, res.q, res.upstreams, true, source, send);
      }
      if (!blocked && !conn.destroyed) conn.resume();
    };
    conn.on('drain', () => {
      if (!blocked) return;
      blocked = false;
      clearTimeout(stall);
      if (!scheduled) pump();
    });
    conn.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (!scheduled) pump();
    });
  }
}

/** A forwarded answer: the socket may have closed meanwhile (its address left the config). */
function sendLate(sock: dgram.Socket, res: Buffer, rinfo: dgram.RemoteInfo): void {
  try {
    sock.send(res, rinfo.port, rinfo.address);
  } catch {
    /* the listener is gone; the client will retry */
  }
}

function literalLookup(address: string, _options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

function isQuery(q: ReturnType<typeof parseQuery>): q is Query {
  return !('drop' in q);
}
