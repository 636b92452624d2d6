#!/usr/bin/env node
/* global process, console, setTimeout */
// Measures the watch daemon's reaction times in a throwaway host namespace (root needed):
//   drift repair   a host veth, or a container address, deleted by hand -> repaired and verified
//   edit           a manifest edit (add or remove a container) -> converged and verified
// t0 is taken just before the deleting `ip` command starts (or the file is written); the end is
// the daemon's own "reconcile applied" log line (written after apply + verify). "kernel" is when
// the repaired object reappears in the kernel, from an `ip monitor` this script runs itself.
// "from the kernel's delete" starts instead at the deletion as that monitor saw it: the `ip`
// process that deletes costs 2-100 ms by itself, depending on the machine's load.
//
//   npm run build && sudo node bench/watch-latency.mjs [--tries 20] [--containers 0]
//
// Nothing outside the namespaces this script creates is touched; they are removed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const TRIES = opt('--tries', 20);
const EXTRA = opt('--containers', 0);
const SETTLE_MS = 1200; // let late kernel events (IPv6 DAD, bridge port timers) pass between tries

if (process.getuid?.() !== 0) {
  console.error('bench: needs root (it creates network namespaces)');
  process.exit(2);
}

const host = `wdb${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(path.join(tmpdir(), `weft-bench-${host}-`));
const manifests = path.join(dir, 'manifests');
const sh = (argv) => spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
const must = (argv) => {
  const r = sh(argv);
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = [];
function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  const names = sh(['ip', 'netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0]).filter((n) => n === host || n?.startsWith(`${host}-`));
  for (const n of names.sort((a, b) => b.length - a.length)) sh(['ip', 'netns', 'del', n]);
  rmSync(`/etc/netns/${host}`, { recursive: true, force: true });
  for (const d of sh(['ls', '/etc/netns']).stdout.split('\n').filter((d) => d.startsWith(`${host}-`))) rmSync(`/etc/netns/${d}`, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

// ---- set-up ----
must(['ip', 'netns', 'add', host]);
must(['ip', '-n', host, 'link', 'set', 'lo', 'up']);
mkdirSync(`/etc/netns/${host}`, { recursive: true });
writeFileSync(`/etc/netns/${host}/resolv.conf`, 'nameserver 198.18.0.53\n');
mkdirSync(manifests, { recursive: true });
const walkthrough = path.join(root, 'examples/walkthrough');
writeFileSync(path.join(manifests, 'networks.yaml'), readFileSync(path.join(walkthrough, 'networks.yaml'), 'utf8'));
const baseContainers =
  readFileSync(path.join(walkthrough, 'containers.yaml'), 'utf8') +
  Array.from({ length: EXTRA }, (_, i) => `\n---\napiVersion: weft/v1\nkind: Container\nmetadata: {name: extra${i}}\nspec: {networks: [isolated_nw]}\n`).join('');
const containersFile = path.join(manifests, 'containers.yaml');
writeFileSync(containersFile, baseContainers);
const withEdit = `${baseContainers}\n---\napiVersion: weft/v1\nkind: Container\nmetadata: {name: edited}\nspec: {networks: [isolated_nw]}\n`;

// The daemon, with JSON logs: one line per reconcile.
const reconciles = [];
const daemon = spawn('node', [path.join(root, 'dist/cli/main.js'), '--host-netns', host, '--state-dir', path.join(dir, 'state'), '--log-format', 'json', 'watch', '-f', manifests, '--resync', '10m', '--prune'], { stdio: ['ignore', 'ignore', 'pipe'] });
children.push(daemon);
/** Calls fn with each complete line of a stream. */
function onLines(stream, fn) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      fn(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
}
onLines(daemon.stderr, (line) => {
  try {
    const rec = JSON.parse(line);
    if (typeof rec.msg === 'string' && rec.msg.startsWith('reconcile')) reconciles.push(rec);
    if (rec.level >= 40) console.error(`daemon: ${line}`);
  } catch {
    console.error(`daemon: ${line}`);
  }
});

// Our own view of the kernel: when does a repaired object reappear?
const kernelEvents = [];
const monitor = spawn('ip', ['-n', host, '-o', '-ts', 'monitor', 'label', 'all-nsid', 'link', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
children.push(monitor);
onLines(monitor.stdout, (line) => {
  const m = /^\[([^\]]+)\]/.exec(line);
  // ip prints local time with microseconds; Date keeps milliseconds, add the rest
  if (m) kernelEvents.push({ at: new Date(m[1]).getTime() + Number(`0.${m[1].split('.')[1]?.slice(3) ?? '0'}`), line });
});

async function waitFor(pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (daemon.exitCode !== null) throw new Error(`the daemon exited (${daemon.exitCode}) while waiting for ${what}`);
    const v = pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

const reconcileAfter = (t0, trigger) => () => reconciles.find((r) => r.time >= t0 && r.msg === 'reconcile applied' && r.trigger.split(',').includes(trigger));
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2, p90: q(0.9), worst: s[s.length - 1], best: s[0] };
};
const fmt = (x) => `${Math.round(x)} ms`;

function hostVethOf(container) {
  const peer = JSON.parse(must(['ip', '-n', `${host}-${container}`, '-j', 'link', 'show', 'eth0']))[0];
  return JSON.parse(must(['ip', '-n', host, '-j', 'link', 'show'])).find((l) => l.ifindex === peer.link_index).ifname;
}

/** What one `nsenter … true` costs right now (about 2 ms on an idle machine): the latencies scale with it. */
function spawnCostMs() {
  const xs = [];
  for (let i = 0; i < 20; i++) {
    const t = process.hrtime.bigint();
    sh(['nsenter', `--net=/run/netns/${host}`, 'true']);
    xs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(xs).median;
}

try {
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`machine: load average ${load()}; one nsenter+true process ${spawnCostMs().toFixed(1)} ms (median of 20)`);
  const started = Date.now();
  await waitFor(reconcileAfter(0, 'start'), 600_000, 'the first reconcile');
  const first = reconciles.find((r) => r.trigger.includes('start'));
  console.log(`host ${host}: ${3 + EXTRA} containers; first reconcile ${first.ms} ms (${first.changes} changes), daemon up after ${Date.now() - started} ms`);
  await sleep(SETTLE_MS);

  const results = { veth: [], vethKernel: [], vethFromDelete: [], address: [], addressKernel: [], addressFromDelete: [], editAdd: [], editRemove: [] };
  const deletedAt = (t0, kind, text) => kernelEvents.find((e) => e.at >= t0 - 5 && e.line.includes(`[${kind}]Deleted `) && e.line.includes(text))?.at;
  const cost = { veth: [], address: [] };
  for (let i = 0; i < TRIES; i++) {
    // 1. a host veth (container3's) deleted by hand
    const veth = hostVethOf('container3');
    let t0 = Date.now();
    must(['ip', '-n', host, 'link', 'del', veth]);
    let r = await waitFor(reconcileAfter(t0, 'drift'), 120_000, 'veth repair');
    results.veth.push(r.time - t0);
    cost.veth.push(r);
    const vethGone = deletedAt(t0, 'LINK', `${veth}@`) ?? deletedAt(t0, 'LINK', `${veth}:`);
    if (vethGone !== undefined) results.vethFromDelete.push(r.time - vethGone);
    // the container's address is the last object the repair creates
    let k = kernelEvents.find((e) => e.at >= t0 && e.line.includes('[ADDR]') && !e.line.includes('Deleted') && e.line.includes('172.21.0.3/16'));
    if (k) results.vethKernel.push(k.at - t0);
    await sleep(SETTLE_MS);

    // 2. a container address deleted by hand
    t0 = Date.now();
    must(['ip', '-n', `${host}-container1`, 'addr', 'del', '172.17.0.2/16', 'dev', 'eth0']);
    r = await waitFor(reconcileAfter(t0, 'drift'), 120_000, 'address repair');
    results.address.push(r.time - t0);
    cost.address.push(r);
    const addrGone = deletedAt(t0, 'ADDR', '172.17.0.2/16');
    if (addrGone !== undefined) results.addressFromDelete.push(r.time - addrGone);
    k = kernelEvents.find((e) => e.at >= t0 && e.line.includes('[ADDR]') && !e.line.includes('Deleted') && e.line.includes('172.17.0.2/16'));
    if (k) results.addressKernel.push(k.at - t0);
    await sleep(SETTLE_MS);

    // 3. a manifest edit: add a container, then remove it again (--prune)
    t0 = Date.now();
    writeFileSync(containersFile, withEdit);
    r = await waitFor(reconcileAfter(t0, 'manifest'), 120_000, 'edit (add)');
    results.editAdd.push(r.time - t0);
    await sleep(SETTLE_MS);
    t0 = Date.now();
    writeFileSync(containersFile, baseContainers);
    r = await waitFor(reconcileAfter(t0, 'manifest'), 120_000, 'edit (remove)');
    results.editRemove.push(r.time - t0);
    await sleep(SETTLE_MS);
    process.stderr.write(`try ${i + 1}/${TRIES}: veth ${results.veth.at(-1)} ms, address ${results.address.at(-1)} ms, edit +${results.editAdd.at(-1)} / -${results.editRemove.at(-1)} ms\n`);
  }

  const rows = [
    ['veth deleted -> repaired + verified', results.veth],
    ['  (from the kernel\'s delete)', results.vethFromDelete],
    ['  (kernel: container address back)', results.vethKernel],
    ['address deleted -> repaired + verified', results.address],
    ['  (from the kernel\'s delete)', results.addressFromDelete],
    ['  (kernel: address back)', results.addressKernel],
    ['edit: add a container -> converged', results.editAdd],
    ['edit: remove a container -> converged', results.editRemove],
  ];
  console.log(`\n| ${TRIES} tries, ${3 + EXTRA} containers | median | p90 | worst | best |\n| --- | --- | --- | --- | --- |`);
  for (const [name, xs] of rows) {
    if (xs.length === 0) continue;
    const s = stats(xs);
    console.log(`| ${name} | ${fmt(s.median)} | ${fmt(s.p90)} | ${fmt(s.worst)} | ${fmt(s.best)} |`);
  }
  const med = (xs) => stats(xs).median;
  for (const kind of ['veth', 'address']) {
    const c = cost[kind];
    console.log(
      `${kind} repair cost (median): reconcile ${med(c.map((x) => x.ms))} ms, ${med(c.map((x) => x.processes))} processes, namespaces read ${med(c.map((x) => x.nsRead))}, served from cache ${med(c.map((x) => x.nsCached))}`,
    );
  }
  const own = reconciles.filter((r) => r.msg === 'reconcile converged' && r.trigger === 'drift').length;
  console.log(`no-op reconciles triggered by late kernel events: ${own}`);
  console.log(`machine after: load average ${load()}; one nsenter+true process ${spawnCostMs().toFixed(1)} ms`);
} finally {
  if (daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('close', r));
  }
  cleanup();
}
