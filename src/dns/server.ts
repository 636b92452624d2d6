import dgram from 'node:dgram';
import net from 'node:net';
import type { DnsConfig } from '../compile/index.js';
import type { Logger } from '../log.js';
import { forwardTcp, forwardUdp } from './forward.js';
import { RecordStore } from './store.js';
import type { Decision } from './store.js';
import type { Query, RcodeName } from './wire.js';
import { RCODE, RCODE_NAMES, buildResponse, errorResponse, parseQuery, rcodeOf, sizeLimit } from './wire.js';

export interface DnsServerOptions {
  log: Logger;
  /** Port on every listen address (53; tests may choose another). */
  port?: number;
  /** How long to wait for one upstream before trying the next (then SERVFAIL). */
  upstreamTimeoutMs?: number;
  /** How often to retry listen addresses that cannot be bound yet (the bridge is not there yet). */
  bindRetryMs?: number;
}

/** Counters for status and Prometheus metrics. */
export interface DnsStats {
  /** Responses sent, by response code (forwarded ones by the upstream's code). */
  responses: Record<RcodeName | 'OTHER', number>;
  /** Queries sent on to an upstream resolver. */
  forwarded: number;
  /** Responses truncated for UDP (the client retries over TCP). */
  truncated: number;
  /** Addresses the server listens on now. */
  listening: string[];
  /** Addresses it should listen on but cannot yet. */
  pending: string[];
  /** Container addresses it answers. */
  clients: number;
}

/** A query for the upstreams. */
interface Forward {
  q: Query;
  upstreams: readonly string[];
}

/** At most this many forwarded queries wait for upstreams at once; more get SERVFAIL. */
const MAX_IN_FLIGHT = 2048;
const TCP_IDLE_MS = 10_000;

interface Listener {
  udp?: dgram.Socket;
  tcp?: net.Server;
  /** Bound and serving (the sockets above exist from the bind attempt on). */
  udpUp?: boolean;
  tcpUp?: boolean;
  /** The last bind error, logged once per kind. */
  lastError?: string;
}

/**
 * The embedded DNS server: UDP and TCP on each listen address (the gateways that container
 * namespaces redirect 127.0.0.11 to), answers from the record store, forwarding for the rest.
 * Lives in the process's own network namespace. Never throws from a socket event.
 */
export class DnsServer {
  private store = new RecordStore({ listen: [], networks: [], clients: [] });
  private readonly listeners = new Map<string, Listener>();
  private readonly counts = new Array<number>(16).fill(0);
  private forwarded = 0;
  private truncated = 0;
  private inFlight = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private configText = '';
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly log: Logger;

  constructor(opts: DnsServerOptions) {
    this.log = opts.log;
    this.port = opts.port ?? 53;
    this.timeoutMs = opts.upstreamTimeoutMs ?? 1500;
    this.retryMs = opts.bindRetryMs ?? 1000;
  }

  /** Replaces the records and the listen addresses; queries in flight finish with the old store. */
  setConfig(config: DnsConfig): void {
    if (this.closed) return;
    // The same records again (a periodic resync): keep the store and its warm answer cache.
    const text = JSON.stringify(config);
    if (text === this.configText) return;
    this.configText = text;
    this.store = new RecordStore(config);
    const want = new Set(config.listen);
    for (const [addr, l] of this.listeners) {
      if (want.has(addr)) continue;
      this.closeListener(l);
      this.listeners.delete(addr);
      this.log.info({ address: addr }, 'dns: stopped listening');
    }
    for (const addr of want) if (!this.listeners.has(addr)) this.listeners.set(addr, {});
    this.bindMissing();
  }

  stats(): DnsStats {
    const responses = Object.fromEntries(RCODE_NAMES.map((n) => [n, this.counts[RCODE[n]] ?? 0])) as DnsStats['responses'];
    responses.OTHER = this.counts.reduce((a, n, i) => a + (RCODE_NAMES.some((name) => RCODE[name] === i) ? 0 : n), 0);
    const listening: string[] = [];
    const pending: string[] = [];
    for (const [addr, l] of this.listeners) (l.udpUp && l.tcpUp ? listening : pending).push(addr);
    return { responses, forwarded: this.forwarded, truncated: this.truncated, listening: listening.sort(), pending: pending.sort(), clients: this.store.clientCount };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all([...this.listeners.values()].map((l) => this.closeListener(l)));
    this.listeners.clear();
  }

  private closeListener(l: Listener): Promise<void> {
    const udp = l.udp;
    const tcp = l.tcp;
    delete l.udp;
    delete l.tcp;
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
    for (const [addr, l] of this.listeners) {
      if (!l.udp) {
        missing = true;
        this.bindUdp(addr, l);
      }
      if (!l.tcp) {
        missing = true;
        this.bindTcp(addr, l);
      }
    }
    if (missing && !this.closed) {
      this.retryTimer = setTimeout(() => this.bindMissing(), this.retryMs);
      this.retryTimer.unref();
    }
  }

  private bindFailed(addr: string, l: Listener, proto: string, err: NodeJS.ErrnoException): void {
    const what = `${proto} ${err.code ?? err.message}`;
    if (l.lastError !== what) this.log.warn({ address: addr, proto, error: err.code ?? err.message }, 'dns: cannot listen yet; retrying');
    l.lastError = what;
  }

  private bindUdp(addr: string, l: Listener): void {
    // Replies go to IP literals: a synchronous lookup spares every send a dns.lookup and a tick.
    const sock = dgram.createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup });
    l.udp = sock;
    sock.once('error', (err) => {
      if (l.udp === sock) delete l.udp;
      try {
        sock.close();
      } catch {
        /* never bound: nothing to close */
      }
      this.bindFailed(addr, l, 'udp', err);
    });
    sock.bind({ address: addr, port: this.port, exclusive: true }, () => {
      sock.removeAllListeners('error');
      // After binding, errors are per datagram (a client gone): nothing to do about them.
      sock.on('error', (err) => this.log.debug({ address: addr, error: err.message }, 'dns: udp error'));
      sock.on('message', (msg, rinfo) => this.onUdp(sock, msg, rinfo));
      l.udpUp = true;
      this.log.info({ address: addr, port: this.port, proto: 'udp' }, 'dns: listening');
      if (this.closed || this.listeners.get(addr) !== l) {
        if (l.udp === sock) delete l.udp;
        sock.close();
      }
    });
  }

  private bindTcp(addr: string, l: Listener): void {
    const server = net.createServer((conn) => this.onTcp(conn));
    l.tcp = server;
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (l.tcp === server) delete l.tcp;
      this.bindFailed(addr, l, 'tcp', err);
    });
    server.listen({ host: addr, port: this.port, exclusive: true }, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => this.log.debug({ address: addr, error: err.message }, 'dns: tcp error'));
      l.tcpUp = true;
      this.log.info({ address: addr, port: this.port, proto: 'tcp' }, 'dns: listening');
      if (this.closed || this.listeners.get(addr) !== l) {
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
    if (d.upstreams.length === 0 || this.inFlight >= MAX_IN_FLIGHT) {
      this.count(RCODE.SERVFAIL);
      return errorResponse(msg, q, RCODE.SERVFAIL, q);
    }
    return { q, upstreams: d.upstreams };
  }

  private forward(msg: Buffer, q: Query, upstreams: readonly string[], tcp: boolean, reply: (res: Buffer) => void): void {
    this.forwarded++;
    this.inFlight++;
    const opts = { timeoutMs: this.timeoutMs };
    const asked = tcp ? forwardTcp(msg, upstreams, opts) : forwardUdp(msg, upstreams, opts);
    void asked.catch(() => null).then((res) => {
      this.inFlight--;
      const out = res ?? errorResponse(msg, q, RCODE.SERVFAIL, q);
      this.count(rcodeOf(out));
      reply(out);
    });
  }

  private count(rcode: number): void {
    this.counts[rcode & 0x0f]!++;
  }

  private onUdp(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const res = this.handle(msg, rinfo.address, false);
    if (res === null) return;
    if (Buffer.isBuffer(res)) sock.send(res, rinfo.port, rinfo.address);
    else this.forward(msg, res.q, res.upstreams, false, (out) => sendLate(sock, out, rinfo));
  }

  private onTcp(conn: net.Socket): void {
    const source = conn.remoteAddress ?? '';
    let buf: Buffer = Buffer.alloc(0);
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const send = (res: Buffer) => {
          if (conn.destroyed) return;
          const frame = Buffer.allocUnsafe(2 + res.length);
          frame.writeUInt16BE(res.length, 0);
          res.copy(frame, 2);
          conn.write(frame);
        };
        const query = Buffer.from(msg);
        const res = this.handle(query, source, true);
        if (res === null) continue;
        if (Buffer.isBuffer(res)) send(res);
        else this.forward(query, res.q, res.upstreams, true, send);
      }
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
