import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError, WeftError } from '../errors.js';
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

/** The topology picture (weft graph), drawn on request; undefined while no manifests are valid. */
export interface TopologyPictures {
  topologySvg?: () => Promise<string | undefined>;
}

/** /topology.svg: the same picture as `weft graph`, of the manifests in force against the kernel now. */
function serveTopology(pictures: TopologyPictures, send: (code: number, type: string, body: string) => void): void {
  if (!pictures.topologySvg) return send(404, 'text/plain', 'not found\n');
  pictures.topologySvg().then(
    (svg) => (svg === undefined ? send(503, 'text/plain', 'no valid manifests yet\n') : send(200, 'image/svg+xml', svg)),
    (err: Error) => send(500, 'text/plain', `topology: ${err.message}\n`),
  );
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

/**
 * Serves /healthz, /readyz, /status (JSON) and /metrics (Prometheus text) on one address. Binds
 * in the namespace this process runs in (the CLI re-executes the daemon inside --host-netns).
 */
export async function startStatusServer(listen: ListenAddress, daemon: StatusProvider, pictures: TopologyPictures = {}): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://weft');
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    switch (url.pathname) {
      case '/healthz':
        return send(200, 'text/plain', 'ok\n');
      case '/readyz': {
        if (daemon.ready()) return send(200, 'text/plain', 'ready\n');
        const s = daemon.status();
        const why = s.error ? `${s.error.kind}: ${s.error.message}` : s.lastReconcile ? `last reconcile ${s.lastReconcile.result}` : 'no reconcile yet';
        return send(503, 'text/plain', `not ready: ${why}\n`);
      }
      case '/status':
        return send(200, 'application/json', `${JSON.stringify(daemon.status(), null, 2)}\n`);
      case '/metrics':
        return send(200, METRICS_CONTENT_TYPE, daemon.renderMetrics());
      case '/topology.svg':
        return serveTopology(pictures, send);
      default:
        return send(404, 'text/plain', 'not found: try /healthz, /readyz, /status or /metrics\n');
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `--listen ${listen.host}:${listen.port}`;
      if (err.code === 'EADDRINUSE') reject(new WeftError('LISTEN', `${where}: address in use; is another weft watch running here? pass another --listen`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new WeftError('LISTEN', `${where}: no such address in the host namespace (is its loopback up? ip link set lo up)`));
      else reject(err);
    });
    server.listen(listen.port, listen.host, () => resolve());
  });
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
