import dgram from 'node:dgram';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { DnsConfig } from '../../../src/compile/index.js';
import { DnsServer } from '../../../src/dns/index.js';
import { RCODE, TYPE } from '../../../src/dns/wire.js';
import { silentLogger } from '../../../src/log.js';
import { addressSockets, decode, query } from '../../support/dns.js';
import type { SocketSource } from '../../../src/dns/index.js';

/**
 * The server over real sockets on 127.0.0.1 (high ports, no privileges): UDP and TCP, truncation
 * then TCP, forwarding to an upstream, SERVFAIL without one. Container c0's sockets are bound to
 * 127.0.0.1 (in production: 127.0.0.11 inside its namespace).
 */

const PORT = 20000 + Math.floor(Math.random() * 20000);
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(upstreams: string[], entries = 3): DnsConfig {
  return {
    networks: [
      {
        name: 'n1',
        entries: Array.from({ length: entries }, (_, i) => ({ container: `c${i}`, names: [`c${i}`, 'many'], ipv4: `10.5.${Math.floor(i / 250)}.${(i % 250) + 2}` })),
      },
    ],
    clients: [{ container: 'c0', netns: '127.0.0.1', networks: ['n1'], links: [], upstreams }],
  };
}

async function start(cfg: DnsConfig, port = PORT, upstreamTimeoutMs = 300): Promise<DnsServer> {
  const s = new DnsServer({ log: silentLogger, sockets: addressSockets(port), upstreamTimeoutMs, bindRetryMs: 50 });
  s.setConfig(cfg);
  cleanups.push(() => s.close());
  for (let i = 0; i < 100 && s.stats().listening.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  return s;
}

function udp(msg: Buffer, port = PORT, timeoutMs = 3000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(msg, port, '127.0.0.1');
  });
}

function tcp(msg: Buffer, port = PORT): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    c.on('error', reject);
    c.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      c.write(Buffer.concat([len, msg]));
    });
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        c.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
  });
}

/** The stand-in upstream's answer to any query: one A record, 198.18.0.77. */
function upstreamAnswer(m: Buffer): Buffer {
  const out = Buffer.from(m);
  out[2] = 0x81;
  out[3] = 0x80;
  out.writeUInt16BE(1, 6);
  return Buffer.concat([out, Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 77])]);
}

/** A stand-in upstream resolver on UDP and TCP. */
async function upstream(port: number): Promise<() => void> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(upstreamAnswer(m), r.port, r.address));
  await new Promise<void>((r) => s.bind(port, '127.0.0.1', r));
  const t = net.createServer((c) => {
    c.on('data', (d: Buffer) => {
      const res = upstreamAnswer(d.subarray(2, 2 + d.readUInt16BE(0)));
      const len = Buffer.alloc(2);
      len.writeUInt16BE(res.length);
      c.end(Buffer.concat([len, res]));
    });
  });
  await new Promise<void>((r) => t.listen(port, '127.0.0.1', r));
  return () => {
    s.close();
    t.close();
  };
}

describe('DNS server on loopback', () => {
  it('answers over UDP and TCP and counts responses by rcode', async () => {
    const s = await start(config([]));
    expect(s.stats().listening).toEqual(['c0']);
    const a = decode((await udp(query('C1', TYPE.A, { id: 321 })))!);
    expect(a).toMatchObject({ id: 321, rcode: 0, answers: [{ name: 'C1', value: '10.5.0.3', ttl: 600 }] });
    const t = decode(await tcp(query('c2', TYPE.A)));
    expect(t.answers.map((x) => x.value)).toEqual(['10.5.0.4']);
    expect(decode((await udp(query('c2', TYPE.AAAA)))!)).toMatchObject({ rcode: RCODE.NOERROR, answers: [] });
    expect(decode((await udp(query('nope.n1', TYPE.A)))!)).toMatchObject({ rcode: RCODE.NXDOMAIN });
    expect(s.stats().responses).toMatchObject({ NOERROR: 3, NXDOMAIN: 1 });
  });

  it('truncates a large answer over UDP; the same query over TCP gets every record', async () => {
    const s = await start(config([], 60));
    const u = decode((await udp(query('many', TYPE.A)))!);
    expect(u.tc).toBe(true);
    expect(u.answers).toEqual([]);
    const t = decode(await tcp(query('many', TYPE.A)));
    expect(t.tc).toBe(false);
    expect(t.answers).toHaveLength(60);
    expect(s.stats().truncated).toBe(1);
  });

  it('forwards names it does not own and relays the upstream answer with the client id', async () => {
    const upPort = PORT + 1;
    cleanups.push(await upstream(upPort));
    const s = await start(config([`127.0.0.1#${upPort}`]));
    const r = decode((await udp(query('example.org', TYPE.A, { id: 777 })))!);
    expect(r).toMatchObject({ id: 777, rcode: 0, answers: [{ name: 'example.org', value: '198.18.0.77' }] });
    // A client that asks over TCP is forwarded over TCP.
    const t = decode(await tcp(query('example.net', TYPE.A, { id: 778 })));
    expect(t).toMatchObject({ id: 778, rcode: 0, answers: [{ name: 'example.net', value: '198.18.0.77' }] });
    expect(s.stats().forwarded).toBe(2);
  });

  it('answers SERVFAIL quickly when the upstream is gone or silent, and without upstreams', async () => {
    // Nothing listens there: ICMP port unreachable fails the query at once, long before the
    // (here very long) upstream timeout.
    await start(config([`127.0.0.1#${PORT + 2}`]), PORT, 20_000);
    let t0 = Date.now();
    expect(decode((await udp(query('example.org', TYPE.A), PORT, 15_000))!).rcode).toBe(RCODE.SERVFAIL);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // A silent upstream (a bound socket that never answers): SERVFAIL after the timeout.
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(PORT + 3, '127.0.0.1', r));
    cleanups.push(() => void silent.close());
    const s2 = new DnsServer({ log: silentLogger, sockets: addressSockets(PORT + 4), upstreamTimeoutMs: 300 });
    s2.setConfig(config([`127.0.0.1#${PORT + 3}`]));
    cleanups.push(() => s2.close());
    await new Promise((r) => setTimeout(r, 50));
    t0 = Date.now();
    expect(decode((await udp(query('example.org', TYPE.A), PORT + 4))!).rcode).toBe(RCODE.SERVFAIL);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a client that leaves the configuration loses its sockets (nobody else can reach them)', async () => {
    const s = await start(config([]));
    expect(decode((await udp(query('c1', TYPE.A)))!).rcode).toBe(RCODE.NOERROR);
    const cfg = config([]);
    cfg.clients = [];
    s.setConfig(cfg);
    await new Promise((r) => setTimeout(r, 50));
    expect(await udp(query('c1', TYPE.A), PORT, 300)).toBeNull();
    expect(s.stats()).toMatchObject({ listening: [], pending: [], clients: 0 });
  });

  it('follows new records without a restart, and retries clients whose sockets cannot be opened yet', async () => {
    const s = await start(config([], 2));
    expect(decode((await udp(query('c5', TYPE.A)))!).rcode).toBe(RCODE.SERVFAIL);
    s.setConfig(config([], 8));
    expect(decode((await udp(query('c5', TYPE.A)))!).answers.map((a) => a.value)).toEqual(['10.5.0.7']);
    // 198.18.0.1 is on no interface here: c9 is pending, retried in the background, no crash.
    const more = config([], 8);
    more.clients.push({ container: 'c9', netns: '198.18.0.1', networks: ['n1'], links: [], upstreams: [] });
    s.setConfig(more);
    await new Promise((r) => setTimeout(r, 120));
    expect(s.stats()).toMatchObject({ listening: ['c0'], pending: ['c9'] });
  });

  it('a descriptor Node refuses (not a socket) leaves the client pending, closed, and the server up', async () => {
    const opened: number[] = [];
    const discarded: number[] = [];
    const sockets: SocketSource = {
      open: () => {
        const udp = openSync('/dev/null', 'r');
        const tcp = openSync('/dev/null', 'r');
        opened.push(udp, tcp);
        return Promise.resolve({ udp: { fd: udp }, tcp: { fd: tcp } });
      },
      current: () => true,
      discard: (s) => {
        for (const h of [s.udp, s.tcp]) if (h && 'fd' in h) discarded.push(h.fd);
        for (const h of [s.udp, s.tcp]) if (h && 'fd' in h) closeSync(h.fd);
      },
      watch: () => () => undefined,
    };
    const s = new DnsServer({ log: silentLogger, sockets, bindRetryMs: 50 });
    cleanups.push(() => s.close());
    s.setConfig(config([]));
    await new Promise((r) => setTimeout(r, 200));
    expect(s.stats()).toMatchObject({ listening: [], pending: ['c0'] });
    // Tried again and again (every 50 ms), each pair closed: dgram refused the UDP one at once,
    // so both were handed back unused.
    expect(opened.length).toBeGreaterThanOrEqual(4);
    expect(discarded.length).toBeGreaterThanOrEqual(4);
  });
});
