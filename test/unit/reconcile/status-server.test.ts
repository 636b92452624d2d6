import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { DaemonStatus, StatusServer } from '../../../src/reconcile/index.js';
import { startStatusServer } from '../../../src/reconcile/index.js';
import type { StatusProvider, StatusServerLimits } from '../../../src/reconcile/status-server.js';
import { requestPath } from '../../../src/reconcile/status-server.js';

/**
 * The status server against hostile clients, over real sockets on 127.0.0.1: odd request targets
 * (the `//` and `http://[` that killed the daemon), odd methods, bodies, huge headers, slow and
 * many connections. After each, /healthz still answers.
 */

const servers: StatusServer[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const SECRET_URL = 'https://weft-bot:s3cr3t-pw@git.example/org/net.git?access_token=tok-123&ref=main';

function provider(over: Partial<StatusProvider> = {}): StatusProvider {
  const status = { pid: 1, source: { kind: 'git', url: SECRET_URL, ref: 'main', intervalMs: 1000 }, ready: true, error: null } as unknown as DaemonStatus;
  return { status: () => status, ready: () => true, renderMetrics: () => 'weft_up 1\n', ...over };
}

async function start(p = provider(), limits: Partial<StatusServerLimits> = {}): Promise<number> {
  const s = await startStatusServer({ host: '127.0.0.1', port: 0 }, p, { limits });
  servers.push(s);
  return s.address.port;
}

/** Sends raw bytes; resolves with the status code of the first response (0: closed without one). */
function raw(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<{ code: number; text: string }> {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port });
    sockets.push(c);
    let text = '';
    const done = () => {
      clearTimeout(t);
      c.destroy();
      resolve({ code: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    };
    const t = setTimeout(done, timeoutMs);
    c.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      // One response is enough: stop at the end of its body when it says how long it is.
      const m = /content-length: (\d+)\r\n/i.exec(text);
      const head = text.indexOf('\r\n\r\n');
      if (m && head >= 0 && text.length >= head + 4 + Number(m[1])) done();
    });
    c.on('error', () => undefined);
    c.on('close', done);
    c.write(bytes);
  });
}

const get = (port: number, target: string, extra = '') => raw(port, `GET ${target} HTTP/1.1\r\nhost: x\r\n${extra}\r\n`);

describe('status server under hostile requests', () => {
  it('odd request targets get 4xx, never a crash: //, http://[, absolute-form, very long paths', async () => {
    const port = await start();
    expect((await get(port, '//')).code).toBe(404);
    expect((await get(port, '//healthz')).code).toBe(404);
    expect((await get(port, 'http://[')).code).toBe(400);
    expect((await get(port, 'http://[::1')).code).toBe(400);
    expect((await get(port, '*')).code).toBe(400);
    expect((await get(port, 'http://weft/healthz')).code).toBe(200);
    expect((await get(port, '/healthz?x=%zz#frag')).code).toBe(200);
    expect((await get(port, `/${'a'.repeat(4000)}`)).code).toBe(404);
    // Longer than the header limit: refused by the parser with 431.
    expect((await get(port, `/${'a'.repeat(100_000)}`)).code).toBe(431);
    expect((await get(port, '/healthz')).code).toBe(200);
  });

  it('odd methods and bodies: 405 with Allow, 413 for a GET with a body, 400 for garbage', async () => {
    const port = await start();
    const post = await raw(port, 'POST /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello');
    expect(post.code).toBe(405);
    expect(post.text.toLowerCase()).toContain('allow: get, head');
    expect((await raw(port, 'DELETE /status HTTP/1.1\r\nhost: x\r\n\r\n')).code).toBe(405);
    expect((await raw(port, 'GET /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc')).code).toBe(413);
    expect((await raw(port, 'GET /healthz HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n')).code).toBe(413);
    expect((await raw(port, 'BREW /pot HTCPCP/1.0\r\n\r\n')).code).toBe(400);
    expect((await raw(port, Buffer.from([0, 1, 2, 255, 13, 10, 13, 10]))).code).toBe(400);
    const head = await raw(port, 'HEAD /healthz HTTP/1.1\r\nhost: x\r\n\r\n', 500);
    expect(head.code).toBe(200);
    expect((await get(port, '/healthz')).code).toBe(200);
  });

  it('huge headers are refused with 431', async () => {
    const port = await start();
    expect((await get(port, '/healthz', `x-big: ${'b'.repeat(20_000)}\r\n`)).code).toBe(431);
    const many = Array.from({ length: 2000 }, (_, i) => `x-h${i}: v\r\n`).join('');
    expect((await get(port, '/healthz', many)).code).toBe(431);
    expect((await get(port, '/healthz')).code).toBe(200);
  });

  it('a daemon callback that throws is a 500 for that request only', async () => {
    let fail = true;
    const port = await start(
      provider({
        status: () => {
          if (fail) throw new Error('boom');
          return provider().status();
        },
        renderMetrics: () => {
          throw new TypeError('metrics broke');
        },
      }),
    );
    expect((await get(port, '/status')).code).toBe(500);
    expect((await get(port, '/metrics')).code).toBe(500);
    fail = false;
    expect((await get(port, '/status')).code).toBe(200);
    expect((await get(port, '/healthz')).code).toBe(200);
  });

  it('slow clients are cut off by the headers timeout; connections beyond the cap are closed', async () => {
    const port = await start(provider(), { headersTimeoutMs: 300, requestTimeoutMs: 600, maxConnections: 8 });
    // Slowloris: a request line and never the end of the headers.
    const slow = net.connect({ host: '127.0.0.1', port });
    sockets.push(slow);
    slow.on('error', () => undefined);
    slow.resume();
    slow.write('GET /healthz HTTP/1.1\r\nhost: x\r\n');
    const t0 = Date.now();
    await new Promise<void>((resolve) => slow.on('close', () => resolve()));
    expect(Date.now() - t0).toBeLessThan(3000);
    // Many idle connections: at most 8 are kept; the rest close at once.
    const idle = await Promise.all(
      Array.from(
        { length: 40 },
        () =>
          new Promise<net.Socket>((resolve) => {
            const c = net.connect({ host: '127.0.0.1', port }, () => resolve(c));
            c.on('error', () => undefined);
            c.resume();
            sockets.push(c);
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(idle.filter((c) => !c.destroyed && !c.readableEnded).length).toBeLessThanOrEqual(8);
    for (const c of idle) c.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await get(port, '/healthz')).code).toBe(200);
  });

  it('/status and /readyz never show credentials of the source URL', async () => {
    const port = await start(
      provider({
        ready: () => false,
        status: () => ({ ...provider().status(), error: { kind: 'source', message: `git fetch ${SECRET_URL}: refused`, at: '' } }) as unknown as DaemonStatus,
      }),
    );
    const status = await get(port, '/status');
    const ready = await get(port, '/readyz');
    for (const r of [status, ready]) {
      expect(r.text).not.toContain('s3cr3t');
      expect(r.text).not.toContain('tok-123');
      expect(r.text).not.toContain('weft-bot');
    }
    expect(status.text).toContain('https://***@git.example/org/net.git?access_token=***&ref=main');
  });
});

describe('requestPath', () => {
  it('origin-form and absolute-form targets; anything else is not a path', () => {
    expect(requestPath('/a/b?c#d')).toBe('/a/b');
    expect(requestPath('//')).toBe('//');
    expect(requestPath('HTTP://weft:9/metrics?x')).toBe('/metrics');
    expect(requestPath('http://[')).toBeUndefined();
    expect(requestPath('*')).toBeUndefined();
    expect(requestPath('ftp://x/y')).toBeUndefined();
    expect(requestPath('')).toBeUndefined();
  });
});
