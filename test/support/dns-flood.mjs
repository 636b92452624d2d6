/* global process, setTimeout */
// A UDP flooder for the DNS hostile-input tests, in its own process so that the flood really
// competes with the server (the test's own event loop stays free to measure probes).
// Usage: node dns-flood.mjs PORT SOURCE_ADDRESS DURATION_MS NAME_PREFIX RATE_PER_SECOND
// (sends from SOURCE_ADDRESS to the server's socket for that client, on the same address).
// NAME_PREFIX's "N" becomes the query's number. Prints how many queries it sent.
import dgram from 'node:dgram';
import { aQuery } from './dns-query.mjs';

const [port, source, durationMs, prefix, rate] = process.argv.slice(2);
const sock = dgram.createSocket('udp4');
sock.on('error', () => undefined);
sock.on('message', () => undefined);

sock.bind(0, source, () => {
  const start = Date.now();
  const end = start + Number(durationMs);
  let n = 0;
  const burst = () => {
    const now = Date.now();
    if (now >= end) {
      process.stdout.write(`${n}\n`);
      sock.close();
      return;
    }
    // Catch up to the rate every few milliseconds: a steady flood in small bursts (at most 50,
    // also after the process was not scheduled for a while: a starved test machine).
    const due = Math.min(n + 50, Math.floor(((now - start) * Number(rate)) / 1000));
    for (; n < due; n++) sock.send(aQuery(prefix.replace('N', String(n)), n), Number(port), source);
    setTimeout(burst, 2);
  };
  burst();
});
