import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DnsConfig } from '../../../src/compile/index.js';
import { DnsServer, RecordStore } from '../../../src/dns/index.js';
import type { DnsServerLimits } from '../../../src/dns/server.js';
import { RCODE, TYPE, parseQuery } from '../../../src/dns/wire.js';
import type { Logger } from '../../../src/log.js';
import { silentLogger } from '../../../src/log.js';
import { addressSockets, decode, query } from '../../support/dns.js';

/**
 * The embedded DNS server against hostile clients, in-process on loopback (high ports). Each client
 * has its own sockets, as each container has in its namespace: the attacker's on 127.0.0.2, and
 * on 127.0.0.3 the container whose queries must keep being answered within 100 ms while the
 * attack goes on. Each client sends to its own sockets.
 */

const ATTACKER = '127.0.0.2';
const VICTIM = '127.0.0.3';
const BASE = 20000 + Math.floor(Math.random() * 20000);
let nextPort = BASE;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(upstreams: string[], extra: Partial<DnsConfig> = {}): DnsConfig {
  return {
    networks: [
      {
        name: 'n1',
        entries: Array.from({ length: 100 }, (_, i) => ({ container: `c${i}`, names: [`c${i}`, 'many'], ipv4: `10.5.0.${i + 2}` })),
      },
    ],
    clients: [ATTACKER, VICTIM].map((a) => ({ container: a, netns: a, networks: ['n1'], links: [], upstreams })),
    ...extra,
  };
}

async function start(cfg: DnsConfig, limits: Partial<DnsServerLimits> = {}, log: Logger = silentLogger): Promise<{ server: DnsServer; port: number }> {
  const port = nextPort++;
  const server = new DnsServer({ log, sockets: addressSockets(port), upstreamTimeoutMs: 1000, bindRetryMs: 50, limits });
  server.setConfig(cfg);
  cleanups.push(() => server.close());
  const want = cfg.clients.length;
  for (let i = 0; i < 100 && server.stats().listening.length < want; i++) await sleep(10);
  expect(server.stats().listening).toEqual(cfg.clients.map((c) => c.container).sort());
  return { server, port };
}

/**
 * The latency bound for the other client's probes. The tests measuring it are retried: on a
 * machine shared with other jobs a scheduling stall alone can exceed it, while what the defences
 * guarantee (rcodes, counters) fails deterministically on every try.
 */
const PROBE_MAX_MS = 100;
const RETRY = { retry: 2 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Infinity;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One UDP query from `source`: the response and how long it took (null after the timeout). */
function ask(port: number, msg: Buffer, source = VICTIM, timeoutMs = 2000): Promise<{ res: Buffer | null; ms: number }> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    let t0 = 0;
    const t = setTimeout(() => finish(null), timeoutMs);
    const finish = (res: Buffer | null) => {
      clearTimeout(t);
      s.close();
      resolve({ res, ms: performance.now() - t0 });
    };
    s.on('message', (m) => finish(m));
    s.bind(0, source, () => {
      t0 = performance.now();
      s.send(msg, port, source);
    });
  });
}

/** Probes every `everyMs` until stopped; returns each probe's latency (Infinity: no answer) and rcode. */
function prober(port: number, name: (i: number) => string, everyMs = 20): { stop: () => Promise<{ ms: number[]; rcodes: number[] }> } {
  const ms: number[] = [];
  const rcodes: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const r = await ask(port, query(name(i), TYPE.A, { id: i & 0xffff }), VICTIM, 1000);
      ms.push(r.res ? r.ms : Infinity);
      rcodes.push(r.res ? decode(r.res).rcode : -1);
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { ms, rcodes };
    },
  };
}

/**
 * A flood from ATTACKER in a child process (so it competes with the server for real), at `rate`
 * queries per second for `ms`; resolves with the number sent.
 */
function flood(port: number, names: string, rate: number, ms: number): Promise<number> {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, '../../support/dns-flood.mjs'), String(port), ATTACKER, String(ms), names, String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => void child.kill());
  return new Promise<number>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => resolve(Number(out.trim())));
  });
}

/** A stand-in upstream that answers names starting with "probe" and ignores the rest (they time out). */
async function choosyUpstream(): Promise<string> {
  const port = nextPort++;
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    const q = parseQuery(m);
    if (!('qtype' in q) || !m.toString('latin1', 13, 18).startsWith('probe')) return;
    const out = Buffer.from(m.subarray(0, q.questionEnd));
    out[2] = 0x81;
    out[3] = 0x80;
    s.send(Buffer.concat([out, Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 77])]), r.port, r.address);
  });
  await new Promise<void>((r) => s.bind(port, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return `127.0.0.1#${port}`;
}

/** Seeded PRNG (mulberry32): the same bytes on every run, a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random packets: pure noise, and valid queries with random bytes flipped, cut or appended. */
function hostilePackets(n: number, seed: number): Buffer[] {
  const r = rng(seed);
  const int = (k: number) => Math.floor(r() * k);
  const seeds = [query('c1', TYPE.A), query('many', TYPE.ANY, { edns: 4096 }), query('2.0.5.10.in-addr.arpa', TYPE.PTR), query('x.example', TYPE.AAAA), query('c2.n1', TYPE.A)];
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const kind = int(4);
    if (kind === 0) {
      out.push(Buffer.from(Array.from({ length: int(600) }, () => int(256))));
      continue;
    }
    const b = Buffer.from(seeds[int(seeds.length)]!);
    if (kind === 1) for (let k = 0; k < 1 + int(6); k++) b[int(b.length)] = int(256);
    if (kind === 2) {
      out.push(b.subarray(0, int(b.length)));
      continue;
    }
    if (kind === 3) {
      b[2] = b[2]! & 0x7f; // still a query, so it gets past the first check
      out.push(Buffer.concat([b, Buffer.from(Array.from({ length: int(300) }, () => int(256)))]));
      continue;
    }
    out.push(b);
  }
  return out;
}

function frame(msg: Buffer, len = msg.length): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(len);
  return Buffer.concat([p, msg]);
}

function tcpConnect(port: number, source = ATTACKER): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: source, port, localAddress: source }, () => resolve(c));
    c.on('error', reject);
    cleanups.push(() => void c.destroy());
  });
}

function closed(c: net.Socket, timeoutMs: number): Promise<boolean> {
  if (c.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    c.on('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** The victim's query for a container name is answered (from the records) within 100 ms. */
async function victimAnswered(port: number): Promise<number> {
  const r = await ask(port, query('c7', TYPE.A));
  expect(r.res).not.toBeNull();
  expect(decode(r.res!).rcode).toBe(RCODE.NOERROR);
  return r.ms;
}

describe('DNS server under hostile input', () => {
  it('random, mutated and truncated packets over UDP: no error escapes, other clients are answered', RETRY, async () => {
    const { server, port } = await start(config([]));
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, ATTACKER, r));
    cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
    const packets = hostilePackets(4000, 11);
    // Oversized datagrams: near the UDP maximum, garbage and a valid query with 60 kB of trailer.
    packets.push(Buffer.alloc(65_000, 0x41), Buffer.concat([query('c1', TYPE.A), Buffer.alloc(60_000, 0xff)]));
    const latencies: number[] = [];
    for (let i = 0; i < packets.length; i += 50) {
      for (const p of packets.slice(i, i + 50)) s.send(p, port, ATTACKER);
      await sleep(20);
      latencies.push(await victimAnswered(port));
    }
    console.log('udp fuzz: victim latency max', Math.max(...latencies).toFixed(1), 'ms');
    expect(server.stats().errors).toBe(0);
    expect(Math.max(...latencies)).toBeLessThan(PROBE_MAX_MS);
  });

  it('random frames, truncated frames and oversized length prefixes over TCP: bad connections close, the server stays up', RETRY, async () => {
    const { server, port } = await start(config([]), { maxTcpFrame: 1024 });
    const packets = hostilePackets(600, 12);
    for (let c = 0; c < 6; c++) {
      const conn = await tcpConnect(port);
      conn.on('data', () => undefined);
      conn.write(Buffer.concat(packets.slice(c * 100, c * 100 + 100).map((p) => frame(p))));
      // A frame cut short, then silence: the connection waits for the rest (until the idle timeout).
      conn.write(frame(query('c1', TYPE.A)).subarray(0, 9));
    }
    const big = await tcpConnect(port);
    big.resume();
    big.write(frame(Buffer.alloc(100), 0xffff));
    expect(await closed(big, 2000)).toBe(true);
    expect(server.stats().tcpClosed.frameTooLong).toBe(1);
    // A short length prefix (less than a header) is a bad query, not a broken stream: the next frame is answered.
    const ok = await tcpConnect(port);
    const answer = new Promise<Buffer>((resolve) => {
      let buf = Buffer.alloc(0);
      ok.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
    });
    ok.write(Buffer.concat([frame(Buffer.from([1, 2, 3])), frame(query('c3', TYPE.A, { id: 77 }))]));
    expect(decode(await answer).id).toBe(77);
    expect(await victimAnswered(port)).toBeLessThan(PROBE_MAX_MS);
    expect(server.stats().errors).toBe(0);
  });

  it('a slow reader over TCP (queries, answers never read) stops being read and is closed; others are answered throughout', RETRY, async () => {
    const { server, port } = await start(config([]), { tcpStallMs: 500 });
    const conn = await tcpConnect(port);
    conn.on('error', () => undefined);
    conn.pause(); // never reads
    // 20000 queries whose answers (100 records each, ~1.6 kB) are far more than the socket buffers hold.
    const q = frame(query('many', TYPE.A));
    conn.write(Buffer.concat(Array.from({ length: 20000 }, () => q)));
    const probes = prober(port, (i) => `c${i % 90}`);
    for (let i = 0; i < 100 && server.stats().tcpClosed.stalled === 0; i++) await sleep(50);
    await sleep(200);
    const { ms, rcodes } = await probes.stop();
    const st = server.stats();
    expect(st.tcpClosed.stalled).toBe(1);
    conn.resume();
    expect(await closed(conn, 2000)).toBe(true);
    // Reading stopped: far fewer answers than queries were produced.
    console.log('slow reader:', st.responses.NOERROR - rcodes.length, 'of 20000 answered before reading stopped; victim latency max', Math.max(...ms).toFixed(1), 'ms');
    expect(st.responses.NOERROR - rcodes.length).toBeLessThan(20000);
    expect(rcodes.every((r) => r === RCODE.NOERROR)).toBe(true);
    expect(Math.max(...ms)).toBeLessThan(PROBE_MAX_MS);
  });

  it('TCP connections are capped per source and in all', async () => {
    const { server, port } = await start(config([]), { maxTcpPerSource: 4, maxTcpConnections: 6 });
    const mine = await Promise.all(Array.from({ length: 10 }, () => tcpConnect(port)));
    for (const c of mine) c.resume();
    await sleep(200);
    expect(mine.filter((c) => !c.destroyed).length).toBe(4);
    expect(server.stats().tcpClosed.overCap).toBe(6);
    // Another source still gets in (2 places left in all), and is answered.
    const other = await tcpConnect(port, VICTIM);
    const got = new Promise<Buffer>((resolve) => other.on('data', (d: Buffer) => resolve(d)));
    other.write(frame(query('c1', TYPE.A, { id: 5 })));
    expect(decode((await got).subarray(2)).id).toBe(5);
  });

  it('a flood of forwarded queries from one client does not make another client\'s forwarded queries SERVFAIL', RETRY, async () => {
    const upstream = await choosyUpstream();
    // The flooder's names time out at the upstream (1 s): without a per-source limit its queries
    // would fill the global in-flight limit within 0.3 s and every other client would get SERVFAIL.
    const { server, port } = await start(config([upstream]), { maxInFlight: 256, maxInFlightPerSource: 64 });
    const done = flood(port, 'flood-N.example', 1000, 1500);
    await sleep(150);
    const probes = prober(port, (i) => `probe-${i}.example`);
    const sent = await done;
    const { ms, rcodes } = await probes.stop();

    console.log('forward flood:', sent, 'queries sent; victim latency max', Math.max(...ms).toFixed(1), 'ms over', ms.length, 'probes; limited', server.stats().limited);
    expect(sent).toBeGreaterThan(1000);
    expect(server.stats().limited).toBeGreaterThan(500);
    expect(rcodes.length).toBeGreaterThan(10);
    expect(rcodes.every((r) => r === RCODE.NOERROR)).toBe(true);
    // Forwarded answers cross a socket per query and the stand-in upstream: the bound holds for
    // the median; every probe is answered well before the upstream timeout (1 s), none waited it out.
    expect(median(ms)).toBeLessThan(PROBE_MAX_MS);
    expect(Math.max(...ms)).toBeLessThan(1000);
  });

  it('one client alone is not rate limited (nobody to protect; benchmarks measure the server)', async () => {
    const { server, port } = await start(config([]), { maxQueriesPerSecondPerSource: 300 });
    const sent = await flood(port, 'c1', 1000, 1000);
    await sleep(300);
    expect(server.stats().rateLimited).toBe(0);
    expect(server.stats().responses.NOERROR).toBeGreaterThan(Math.min(sent, 1000) * 0.9);
  });

  it('a flood of answered queries from one client is cut to its rate; the other client is answered within 100 ms throughout', RETRY, async () => {
    const { server, port } = await start(config([]), { maxQueriesPerSecondPerSource: 300 });
    const done = flood(port, 'c1', 1500, 1500);
    await sleep(150);
    const probes = prober(port, (i) => `c${i % 90}`);
    const sent = await done;
    const { ms, rcodes } = await probes.stop();
    const st = server.stats();
    console.log('answer flood:', sent, 'sent,', st.responses.NOERROR, 'answered,', st.rateLimited, 'dropped by rate; victim latency max', Math.max(...ms).toFixed(1), 'ms over', ms.length, 'probes');
    // At most the rate for each of the (up to 3) one-second windows the flood spans; the rest dropped unread.
    expect(st.rateLimited).toBeGreaterThan(sent / 2);
    expect(st.responses.NOERROR - rcodes.length).toBeLessThanOrEqual(3 * 300);
    expect(rcodes.every((r) => r === RCODE.NOERROR)).toBe(true);
    expect(Math.max(...ms)).toBeLessThan(PROBE_MAX_MS);
  });
});

describe('names that cannot be encoded (regression: a 64+ character name killed the daemon)', () => {
  const long = 'x'.repeat(70);
  const cfg = (): DnsConfig => ({
    networks: [
      {
        name: 'n1',
        entries: [
          { container: long, names: [long, 'ok-alias', `${'y'.repeat(60)}.${'z'.repeat(60)}.${'w'.repeat(60)}.${'v'.repeat(60)}.${'u'.repeat(10)}`], ipv4: '10.5.0.9' },
          { container: 'fine', names: ['fine'], ipv4: '10.5.0.10' },
        ],
      },
    ],
    clients: [{ container: 'fine', netns: VICTIM, networks: ['n1'], links: [{ alias: 'a'.repeat(64), container: 'fine', network: 'n1' }], upstreams: [] }],
  });

  it('the record store leaves them out with a log line; the valid records stay', () => {
    const warned: unknown[] = [];
    const log = { warn: (o: unknown) => warned.push(o) } as unknown as Logger;
    const store = new RecordStore(cfg(), log);
    expect(store.names.get('n1')?.has(long)).toBe(false);
    expect(store.names.get('n1')?.has('ok-alias')).toBe(true);
    expect(store.names.get('n1')?.has('fine')).toBe(true);
    expect(store.reverse.has('9.0.5.10.in-addr.arpa')).toBe(false);
    expect(store.reverse.has('10.0.5.10.in-addr.arpa')).toBe(true);
    // The long name, the 254-character name, the PTR target and the link alias.
    expect(warned).toHaveLength(4);
  });

  it('PTR and A queries about them are answered (SERVFAIL/forward), never thrown', async () => {
    const { server, port } = await start(cfg());
    for (const [name, type] of [
      ['9.0.5.10.in-addr.arpa', TYPE.PTR],
      ['10.0.5.10.in-addr.arpa', TYPE.PTR],
      [long.slice(0, 63), TYPE.A],
      ['ok-alias', TYPE.A],
    ] as const) {
      const r = await ask(port, query(name, type));
      expect(r.res, name).not.toBeNull();
    }
    const ptr = decode((await ask(port, query('10.0.5.10.in-addr.arpa', TYPE.PTR))).res!);
    expect(ptr.answers[0]?.value).toBe('fine.n1');
    expect(server.stats().errors).toBe(0);
  });
});
