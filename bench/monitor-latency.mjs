#!/usr/bin/env node
/* global process, console, setTimeout, performance */
// Kernel event delivery, side by side: the daemon's two kernel monitors listen to the same
// throwaway namespace at once, the process one (`ip monitor` + `nft monitor`, WEFT_KERNEL=processes)
// and the netlink thread (the in-process kernel's). For each change (a veth pair added or
// deleted, an nftables table added or deleted) it reports when each monitor's event reached the
// main thread, counted from the moment the changing command exited (negative: before it did).
//
//   npm run build && sudo node bench/monitor-latency.mjs [--changes 40]
//
// Nothing outside the namespace this script creates is touched; it is removed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { watchKernel, watchKernelNetlink } = await import(path.join(root, 'dist/kernel/index.js'));
const args = process.argv.slice(2);
const CHANGES = Number(args[args.indexOf('--changes') + 1] ?? 0) || 40;
if (process.getuid?.() !== 0) {
  console.error('bench: needs root (it creates a network namespace)');
  process.exit(2);
}
const ns = `wmb${randomBytes(3).toString('hex')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const log = { warn: () => undefined, info: () => undefined, debug: () => undefined, error: () => undefined };
spawnSync('ip', ['netns', 'add', ns]);
const host = { key: '@host', path: `/run/netns/${ns}` };
const seen = { processes: [], netlink: [] };
const record = (who) => ({ onEvent: (e) => seen[who].push({ at: now(), e }), onRestart: () => undefined });
const monitors = [watchKernel(host, record('processes'), log), watchKernelNetlink(host, record('netlink'), log)];
/** Runs a command; resolves with the time it exited. */
const runAt = (argv) =>
  new Promise((resolve) => {
    const c = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    c.on('close', () => resolve(now()));
  });
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 'no events' : `median ${s[Math.floor(s.length / 2)].toFixed(1)} ms, worst ${s[s.length - 1].toFixed(1)} ms, best ${s[0].toFixed(1)} ms (${s.length})`;
};
try {
  await monitors[1].ready;
  await sleep(1500); // the monitor processes start
  const lat = { link: { processes: [], netlink: [], ahead: [] }, nft: { processes: [], netlink: [], ahead: [] } };
  for (let i = 0; i < CHANGES; i++) {
    for (const [kind, argv, match] of [
      ['link', ['ip', '-n', ns, 'link', 'add', `d${i}`, 'type', 'veth', 'peer', 'name', `p${i}`], (e) => e.object === 'link' && e.line.includes(`d${i}`)],
      ['link', ['ip', '-n', ns, 'link', 'del', `d${i}`], (e) => e.object === 'link' && e.deleted && e.line.includes(`d${i}`)],
      ['nft', ['ip', 'netns', 'exec', ns, 'nft', 'add', 'table', 'inet', `weft_b${i}`], (e) => e.object === 'nft' && e.line.includes(`weft_b${i}`)],
      ['nft', ['ip', 'netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', `weft_b${i}`], (e) => e.object === 'nft' && e.deleted && e.line.includes(`weft_b${i}`)],
    ]) {
      const from = { processes: seen.processes.length, netlink: seen.netlink.length };
      const done = await runAt(argv);
      await sleep(60);
      const hits = {};
      for (const who of ['processes', 'netlink']) {
        hits[who] = seen[who].slice(from[who]).find((x) => match(x.e));
        if (hits[who]) lat[kind][who].push(hits[who].at - done);
      }
      // The same kernel event, seen by both: how much sooner the netlink thread delivered it.
      if (hits.processes && hits.netlink) lat[kind].ahead.push(hits.processes.at - hits.netlink.at);
    }
  }
  const load = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' ');
  console.log(`${CHANGES} changes of each kind, load average ${load}; from the changing command's exit to the event on the main thread:`);
  for (const kind of ['link', 'nft']) {
    for (const who of ['processes', 'netlink']) console.log(`${kind.padEnd(5)} ${who.padEnd(10)} ${stats(lat[kind][who])}`);
    console.log(`${kind.padEnd(5)} netlink sooner than the process, same event: ${stats(lat[kind].ahead)}`);
  }
} finally {
  await Promise.all(monitors.map((m) => m.stop()));
  spawnSync('ip', ['netns', 'del', ns]);
}
