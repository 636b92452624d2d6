import { STATUS_CODES, createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError, WeftError } from '../errors.js';
import type { Logger } from '../log.js';
import { redactDeep, redactSecrets } from '../redact.js';
import type { DaemonStatus } from './daemon.js';
import { METRICS_CONTENT_TYPE } from './metrics.js';

export const DEFAULT_LISTEN = '127.0.0.1:9847';

export interface ListenAddress {
  host: string;
  port: number;
}

/** "HOST:PORT", "[v6]:PORT" or ":PORT" (all addresses). Throws UsageError. Pure. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--listen ${text}: expected HOST:PORT, e.g. ${DEFAULT_LISTEN} or [::1]:9847`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** The URL a client uses for an address (0.0.0.0 and :: are reached on loopback). */
export function listenUrl(a: ListenAddress, path: string): string {
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${a.port}${path}`;
}

/** What the server asks the daemon for. */
export interface StatusProvider {
  status(): DaemonStatus;
  ready(): boolean;
  renderMetrics(): string;
}

export interface StatusServer {
  readonly address: ListenAddress;
  close(): Promise<void>;
}

/** Bounds that keep one client (or many) from taking the daemon down. */
export interface StatusServerLimits {
  /** Request line plus headers, bytes (Node answers 431 above it). */
  maxHeaderBytes: number;
  /** Whole headers must arrive within this (a slow client is cut off with 408). */
  headersTimeoutMs: number;
  /** The whole request must arrive within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Connections open at once; more are closed as they arrive. */
  maxConnections: number;
}

export const STATUS_SERVER_LIMITS: StatusServerLimits = {
  maxHeaderBytes: 8 * 1024,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 64,
};

export interface StatusServerOptions {
  log?: Logger;
  limits?: Partial<StatusServerLimits>;
  /** Draws the topology for /topology.svg; undefined while no valid manifests are loaded. */
  topologySvg?: () => Promise<string | undefined>;
}

type Reply = { code: number; type: string; body: string; headers?: Record<string, string> };

const text = (code: number, body: string, headers?: Record<string, string>): Reply => ({ code, type: 'text/plain', body, ...(headers ? { headers } : {}) });

/**
 * The path of a request target, or undefined when it is not one: origin-form ("/x?y") and
 * absolute-form ("http://host/x"), as RFC 9112 allows. Never throws (a bad URL killed the daemon).
 */
export function requestPath(target: string): string | undefined {
  if (target.startsWith('/')) {
    const end = target.search(/[?#]/);
    return end < 0 ? target : target.slice(0, end);
  }
  if (!/^https?:\/\//i.test(target)) return undefined;
  try {
    return new URL(target).pathname;
  } catch {
    return undefined;
  }
}

/** The answer to one request. Pure but for the daemon's callbacks, which may throw (the caller catches). */
export function route(
  method: string | undefined,
  target: string | undefined,
  hasBody: boolean,
  daemon: StatusProvider,
  topologySvg?: () => Promise<string | undefined>,
): Reply | Promise<Reply> {
  if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed: this server only answers GET and HEAD\n', { allow: 'GET, HEAD' });
  // A GET-only server reads no body: one offered is refused, not buffered.
  if (hasBody) return text(413, 'request bodies are not accepted\n');
  const path = requestPath(target ?? '');
  if (path === undefined) return text(400, 'bad request target: use a path such as /healthz\n');
  switch (path) {
    case '/healthz':
      return text(200, 'ok\n');
    case '/readyz': {
      if (daemon.ready()) return text(200, 'ready\n');
      const s = daemon.status();
      const why = s.error ? `${s.error.kind}: ${s.error.message}` : s.lastReconcile ? `last reconcile ${s.lastReconcile.result}` : 'no reconcile yet';
      return text(503, `not ready: ${redactSecrets(why)}\n`);
    }
    case '/status':
      // Sources redact their URLs already; this pass keeps a missed one out of the answer too.
      return { code: 200, type: 'application/json', body: `${JSON.stringify(redactDeep(daemon.status()), null, 2)}\n` };
    case '/metrics':
      return { code: 200, type: METRICS_CONTENT_TYPE, body: daemon.renderMetrics() };
    case '/topology.svg':
      return serveTopology(topologySvg);
    default:
      return text(404, 'not found: try /healthz, /readyz, /status or /metrics\n');
  }
}

/** The daemon's topology picture (weft graph --format svg), drawn on request. */
async function serveTopology(topologySvg?: () => Promise<string | undefined>): Promise<Reply> {
  if (!topologySvg) return text(404, 'not found\n');
  const svg = await topologySvg();
  return svg === undefined ? text(503, 'no valid manifests yet\n') : { code: 200, type: 'image/svg+xml', body: svg };
}

/**
 * Serves /healthz, /readyz, /status (JSON) and /metrics (Prometheus text) on one address. Binds
 * in the namespace this process runs in (the CLI re-executes the daemon inside --host-netns).
 * No request can stop it: every error is caught per request (500), malformed requests get 400,
 * and request size, time and the number of connections are bounded (StatusServerLimits).
 */
export async function startStatusServer(listen: ListenAddress, daemon: StatusProvider, opts: StatusServerOptions = {}): Promise<StatusServer> {
  const limits = { ...STATUS_SERVER_LIMITS, ...opts.limits };
  const log = opts.log;
  const server: Server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above on this period (30 s by default).
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    },
    (req, res) => {
      const fail = (err: unknown): Reply => {
        log?.error({ error: err instanceof Error ? err.message : String(err), path: redactSecrets(req.url ?? '') }, 'status server: request failed');
        return text(500, 'internal error; see the daemon log\n');
      };
      const answer = (reply: Reply) => {
        try {
          // A body we did not read, or an error: the connection is not reused.
          const close = reply.code >= 400 ? { connection: 'close' } : {};
          res.writeHead(reply.code, { 'content-type': reply.type, 'content-length': Buffer.byteLength(reply.body), 'cache-control': 'no-store', ...close, ...reply.headers });
          res.end(req.method === 'HEAD' ? undefined : reply.body);
        } catch (err) {
          log?.warn({ error: err instanceof Error ? err.message : String(err) }, 'status server: cannot answer');
          res.destroy();
        }
      };
      let reply: Reply | Promise<Reply>;
      try {
        const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
        reply = route(req.method, req.url, hasBody, daemon, opts.topologySvg);
      } catch (err) {
        reply = fail(err);
      }
      if (reply instanceof Promise) reply.catch(fail).then(answer, () => res.destroy());
      else answer(reply);
    },
  );
  server.maxConnections = limits.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Malformed requests, oversized headers, slow clients: a short answer when the socket can
    // still take one, then close. Node's default does the same; this one also logs.
    log?.debug({ error: err.code ?? err.message }, 'status server: bad request');
    const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    if (!socket.writable) return void socket.destroy();
    socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    // A client that does not read the answer does not keep the socket either.
    setTimeout(() => socket.destroy(), 1_000).unref();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `--listen ${listen.host}:${listen.port}`;
      if (err.code === 'EADDRINUSE') reject(new WeftError('LISTEN', `${where}: address in use; is another weft watch running here? pass another --listen`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new WeftError('LISTEN', `${where}: no such address in the host namespace (is its loopback up? ip link set lo up)`));
      else reject(err);
    });
    server.listen(listen.port, listen.host, () => resolve());
  });
  // After listening, a server error (EMFILE on accept, ...) is logged; it never ends the process.
  server.on('error', (err) => log?.warn({ error: err.message }, 'status server: error'));
  const bound = server.address() as AddressInfo;
  return {
    address: { host: listen.host, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
