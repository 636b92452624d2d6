/* global Buffer, process, setTimeout, clearTimeout, console */
// Latency of the embedded DNS as a container sees it: run inside a container namespace, asks
// 127.0.0.11:53 for NAME, one query at a time (closed loop, PAUSE_MS between queries), over UDP
// and then over one TCP connection; prints p50 / p90 / p99 / max in ms per protocol.
// Usage: node dns-latency-client.mjs NAME COUNT [PAUSE_MS]
import dgram from 'node:dgram';
import net from 'node:net';
import { aQuery } from '../test/support/dns-query.mjs';

const [name = 'ctr1', countArg = '2000', pauseArg = '1'] = process.argv.slice(2);
const count = Number(countArg);
const pauseMs = Number(pauseArg);
const SERVER = '127.0.0.11';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function summary(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(3);
  return `p50 ${at(0.5)} / p90 ${at(0.9)} / p99 ${at(0.99)} / max ${s[s.length - 1].toFixed(3)} ms (${s.length} answers)`;
}

async function udp() {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.connect(53, SERVER, r));
  const out = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    const answered = await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), 2000);
      sock.once('message', () => {
        clearTimeout(t);
        resolve(true);
      });
      sock.send(aQuery(name, i));
    });
    if (answered) out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (pauseMs > 0) await sleep(pauseMs);
  }
  sock.close();
  return out;
}

async function tcp() {
  const conn = net.connect(53, SERVER);
  await new Promise((r) => conn.once('connect', r));
  conn.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let waiting = null;
  conn.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      buf = buf.subarray(2 + buf.readUInt16BE(0));
      waiting?.();
    }
  });
  const out = [];
  for (let i = 0; i < count; i++) {
    const q = aQuery(name, i);
    const frame = Buffer.alloc(2 + q.length);
    frame.writeUInt16BE(q.length, 0);
    q.copy(frame, 2);
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => {
      waiting = resolve;
      conn.write(frame);
    });
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (pauseMs > 0) await sleep(pauseMs);
  }
  conn.destroy();
  return out;
}

console.log(`udp ${summary(await udp())}`);
console.log(`tcp ${summary(await tcp())}`);
