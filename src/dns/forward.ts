import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

/**
 * Forwarding of names weft does not own to upstream resolvers, from the host namespace. Each
 * query gets its own socket (a random source port and id, as a stub resolver should) connected to
 * the upstream, so an ICMP "port unreachable" fails it at once; silence fails it after the
 * timeout. Upstreams are tried in order; when all fail the caller answers SERVFAIL.
 */

export interface ForwardOptions {
  /** How long to wait for one upstream. */
  timeoutMs: number;
}

/** Sends `query` to the upstreams in turn over UDP; the first response, with the client's id, or null. */
export async function forwardUdp(query: Buffer, upstreams: readonly string[], opts: ForwardOptions): Promise<Buffer | null> {
  for (const upstream of upstreams) {
    const res = await udpOnce(query, upstream, opts.timeoutMs);
    if (res) return res;
  }
  return null;
}

/** The same over TCP (for clients that asked over TCP, usually after a truncated answer). */
export async function forwardTcp(query: Buffer, upstreams: readonly string[], opts: ForwardOptions): Promise<Buffer | null> {
  for (const upstream of upstreams) {
    const res = await tcpOnce(query, upstream, opts.timeoutMs);
    if (res) return res;
  }
  return null;
}

/** An upstream is an address, optionally with "#port" (dnsmasq's notation); port 53 otherwise. */
export function parseUpstream(upstream: string): { host: string; port: number } {
  const i = upstream.lastIndexOf('#');
  if (i < 0) return { host: upstream, port: 53 };
  return { host: upstream.slice(0, i), port: Number(upstream.slice(i + 1)) || 53 };
}

function withId(msg: Buffer, id: number): Buffer {
  const out = Buffer.from(msg);
  out.writeUInt16BE(id, 0);
  return out;
}

/**
 * One try against one upstream: `start` opens a socket and returns how to close it; the result is
 * the first value passed to `finish`, or null after the timeout. The socket is closed exactly once.
 */
function attempt(timeoutMs: number, start: (finish: (res: Buffer | null) => void) => () => void): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let done = false;
    // start() may finish synchronously, before it has returned its closer.
    const socket: { close?: () => void } = {};
    const finish = (res: Buffer | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close?.();
      resolve(res);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    socket.close = start(finish);
    if (done) socket.close();
  });
}

function udpOnce(query: Buffer, upstream: string, timeoutMs: number): Promise<Buffer | null> {
  return attempt(timeoutMs, (finish) => {
    const clientId = query.readUInt16BE(0);
    const id = randomInt(0x10000);
    const { host, port } = parseUpstream(upstream);
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.on('error', () => finish(null));
    socket.on('message', (msg) => {
      // Only the answer to our question: same id, and a response.
      if (msg.length >= 12 && msg.readUInt16BE(0) === id && (msg[2]! & 0x80) !== 0) finish(withId(msg, clientId));
    });
    socket.connect(port, host, (err?: Error) => {
      if (err) return finish(null);
      socket.send(withId(query, id), (sendErr) => {
        if (sendErr) finish(null);
      });
    });
    return () => socket.close();
  });
}

function tcpOnce(query: Buffer, upstream: string, timeoutMs: number): Promise<Buffer | null> {
  return attempt(timeoutMs, (finish) => {
    const socket = net.connect(parseUpstream(upstream));
    let buf = Buffer.alloc(0);
    socket.on('error', () => finish(null));
    socket.on('close', () => finish(null));
    socket.on('connect', () => {
      const frame = Buffer.allocUnsafe(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    return () => socket.destroy();
  });
}
