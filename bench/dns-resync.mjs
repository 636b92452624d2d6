#!/usr/bin/env node
/* global process, console, setTimeout, setImmediate, setInterval, clearInterval */
// The embedded DNS while the daemon works: `weft watch` over N containers (default 1000) answers a
// container's queries at a fixed rate (default 5000 qps) while a full resync runs again and again
// (SIGHUP every 2 s: every namespace read back and compared). Latencies are taken per query by a
// client inside one container, asking 127.0.0.11 as any container does; they are reported for the
// quiet phase and the resync phase side by side (p50, p99, max, lost).
//
//   npm run build && sudo node bench/dns-resync.mjs [--containers 1000] [--rate 5000] [--seconds 10]
//
// Everything happens in a throwaway host namespace (drs<hex>) and its containers, removed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aQuery } from '../test/support/dns-query.mjs';

const self = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};

if (args[0] === '--client') await client(opt('--rate', 5000), opt('--seconds', 10), opt('--containers', 1000));
else await main();

// ---- the client, run inside a container by `weft exec` ----

/**
 * Sends `rate` queries a second for `seconds` to 127.0.0.11 and prints one JSON line per second:
 * the latencies (ms) of the queries sent in that second, and how many got no answer within 1 s.
 */
async function client(rate, seconds, n) {
  const sock = dgram.createSocket('udp4');
  const sent = new Map();
  const perSecond = Array.from({ length: seconds }, () => ({ lat: [], lost: 0 }));
  sock.on('message', (msg) => {
    const id = msg.readUInt16BE(0);
    const s = sent.get(id);
    if (!s) return;
    sent.delete(id);
    perSecond[s.second].lat.push(Number(process.hrtime.bigint() - s.t) / 1e6);
  });
  await new Promise((r) => sock.bind(0, '0.0.0.0', r));
  const start = process.hrtime.bigint();
  let k = 0;
  let id = 0;
  for (;;) {
    const now = process.hrtime.bigint();
    const elapsed = Number(now - start) / 1e9;
    if (elapsed >= seconds) break;
    // Send what is due (a tick can come late under load: catch up, as a steady client would).
    while (k < elapsed * rate) {
      id = (id + 1) & 0xffff;
      const old = sent.get(id);
      if (old) perSecond[old.second].lost++;
      sent.set(id, { t: process.hrtime.bigint(), second: Math.floor(elapsed) });
      sock.send(aQuery(`c${k % n}`, id), 53, '127.0.0.11');
      k++;
    }
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const s of sent.values()) perSecond[s.second].lost++;
  sock.close();
  for (const s of perSecond) console.log(JSON.stringify(s));
}

// ---- the bench ----

async function main() {
  if (process.getuid?.() !== 0) {
    console.error('bench: needs root (it creates network namespaces)');
    process.exit(2);
  }
  const N = opt('--containers', 1000);
  const RATE = opt('--rate', 5000);
  const SECONDS = opt('--seconds', 10);
  const root = path.resolve(path.dirname(self), '..');
  const weft = path.join(root, 'dist/cli/main.js');
  const host = `drs${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(path.join(tmpdir(), `weft-bench-${host}-`));
  const manifests = path.join(dir, 'manifests');
  const sh = (argv, o = {}) => spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20, ...o });
  const children = [];
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    sh(['node', weft, '--host-netns', host, '--state-dir', path.join(dir, 'state'), 'destroy', '-f', manifests]);
    const names = sh(['ip', 'netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0]).filter((x) => x === host || x?.startsWith(`${host}-`));
    for (const x of names.sort((a, b) => b.length - a.length)) sh(['ip', 'netns', 'del', x]);
    for (const d of sh(['ls', '/etc/netns']).stdout.split('\n').filter((d) => d === host || d.startsWith(`${host}-`))) rmSync(`/etc/netns/${d}`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    mkdirSync(manifests);
    const nets = 10;
    writeFileSync(
      path.join(manifests, 'networks.yaml'),
      Array.from({ length: nets }, (_, k) => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: dn${k}}\nspec: {driver: bridge, ipam: {config: [{subnet: 10.${120 + k}.0.0/16}]}}\n`).join('---\n'),
    );
    // Every container on every network would be N x 10 interfaces: one network each, and c0 on all
    // of them so that it may resolve every name.
    writeFileSync(
      path.join(manifests, 'containers.yaml'),
      Array.from({ length: N }, (_, i) => {
        const networks = i === 0 ? Array.from({ length: nets }, (_, k) => `dn${k}`) : [`dn${i % nets}`];
        return `apiVersion: weft/v1\nkind: Container\nmetadata: {name: c${i}}\nspec: {networks: [${networks.join(', ')}]}\n`;
      }).join('---\n'),
    );
    const must = (argv) => {
      const r = sh(argv);
      if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    must(['ip', 'netns', 'add', host]);
    must(['ip', '-n', host, 'link', 'set', 'lo', 'up']);
    const base = ['node', weft, '--host-netns', host, '--state-dir', path.join(dir, 'state'), '--log-format', 'json'];
    const daemon = spawn(base[0], [...base.slice(1), 'watch', '-f', manifests], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(daemon);
    let log = '';
    daemon.stdout.on('data', (d) => (log += d));
    daemon.stderr.on('data', (d) => (log += d));
    const t0 = Date.now();
    while (!/"result":"(applied|converged)"/.test(log)) {
      if (daemon.exitCode !== null || Date.now() - t0 > 600_000) throw new Error(`the daemon did not converge:\n${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    console.error(`bench: ${N} containers applied by the daemon in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const measure = async (label, during) => {
      const c = spawn(base[0], [...base.slice(1), 'exec', 'c0', '--', 'node', self, '--client', '--rate', String(RATE), '--seconds', String(SECONDS), '--containers', String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(c);
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      const resyncs = during ? during() : { stop: () => 0 };
      await new Promise((r) => c.on('exit', r));
      const count = resyncs.stop();
      const secs = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      // The first second warms up (JIT, caches): left out of both phases alike.
      const lat = secs.slice(1).flatMap((s) => s.lat).sort((a, b) => a - b);
      const lost = secs.slice(1).reduce((a, s) => a + s.lost, 0);
      const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
      return { label, answered: lat.length, lost, p50: q(0.5), p99: q(0.99), max: lat.at(-1) ?? NaN, resyncs: count };
    };
    const quiet = await measure('quiet daemon', undefined);
    const busy = await measure('full resync every 2 s (SIGHUP)', () => {
      let n = 0;
      const timer = setInterval(() => {
        daemon.kill('SIGHUP');
        n++;
      }, 2000);
      return {
        stop: () => {
          clearInterval(timer);
          return n;
        },
      };
    });
    const resyncMs = [...log.matchAll(/"trigger":"[^"]*signal[^"]*".*?"ms":(\d+)/g)].map((m) => Number(m[1]));
    const fmt = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
    console.log(`\nweft watch, ${N} containers, ${RATE} qps for ${SECONDS} s from one container (first second left out)`);
    console.log('phase | answered | lost | p50 ms | p99 ms | max ms | resyncs');
    for (const r of [quiet, busy]) console.log(`${r.label} | ${r.answered} | ${r.lost} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.resyncs}`);
    if (resyncMs.length) console.log(`full resync duration (daemon's own figure): median ${resyncMs.sort((a, b) => a - b)[Math.floor(resyncMs.length / 2)]} ms over ${resyncMs.length}`);
    console.log(`load average at the end: ${sh(['cat', '/proc/loadavg']).stdout.trim()}`);
  } finally {
    cleanup();
  }
}
