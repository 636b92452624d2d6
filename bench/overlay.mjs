#!/usr/bin/env node
/* global process, console, URL */
// What programming remote overlay endpoints costs one host: an overlay with one local container and
// N remote ones spread over 10 peer hosts. Measures the first apply (N FDB + N neighbour entries
// + 10 broadcast entries), a converged re-apply, and removing one remote container.
// Needs root and a build (npm run build). Works in throwaway namespaces "ovb<hex>" only.
//   node bench/overlay.mjs [N...]        default: 100 1000
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const weft = path.join(path.dirname(new URL(import.meta.url).pathname), '../dist/cli/main.js');

function manifests(n, drop = -1) {
  const docs = [];
  for (let h = 0; h <= 10; h++) docs.push(`apiVersion: weft/v1\nkind: Host\nmetadata: {name: n${h}}\nspec: {address: 192.168.99.${h + 1}}`);
  docs.push('apiVersion: weft/v1\nkind: Network\nmetadata: {name: ov}\nspec: {driver: overlay, ipam: {config: [{subnet: 10.20.0.0/16}]}}');
  docs.push('apiVersion: weft/v1\nkind: Container\nmetadata: {name: local}\nspec: {host: n0, networks: [ov]}');
  for (let i = 0; i < n; i++) if (i !== drop) docs.push(`apiVersion: weft/v1\nkind: Container\nmetadata: {name: r${i}}\nspec: {host: n${1 + (i % 10)}, networks: [ov]}`);
  return `${docs.join('\n---\n')}\n`;
}

function apply(ns, dir, file) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('node', [weft, '--host-netns', ns, '--state-dir', dir, '--node', 'n0', 'apply', '-f', file], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`apply failed: ${r.stderr}`);
  const m = /in (\d+) ms \((\d+) processes, (\d+) kernel writes\)|converged, nothing to change \((\d+) ms, (\d+) processes, (\d+) kernel writes\)/.exec(r.stderr);
  return { wall: Math.round(ms), reconcile: Number(m?.[1] ?? m?.[4]), processes: Number(m?.[2] ?? m?.[5]), writes: Number(m?.[3] ?? m?.[6]) };
}

console.log('remote endpoints | first apply: reconcile ms (wall) writes | converged re-apply: reconcile ms (wall) | remove one remote: reconcile ms, writes');
for (const n of process.argv.slice(2).length > 0 ? process.argv.slice(2).map(Number) : [100, 1000]) {
  const ns = `ovb${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(path.join(tmpdir(), `${ns}-`));
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1']);
    execFileSync('ip', ['-n', ns, 'addr', 'add', '192.168.99.1/24', 'dev', 'ul0']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'ul0', 'up']);
    const all = path.join(dir, 'all.yaml');
    const less = path.join(dir, 'less.yaml');
    writeFileSync(all, manifests(n));
    writeFileSync(less, manifests(n, 0));
    const first = apply(ns, dir, all);
    const again = apply(ns, dir, all);
    const remove = apply(ns, dir, less);
    const fdb = execFileSync('nsenter', [`--net=/run/netns/${ns}`, 'bridge', 'fdb', 'show'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(' self permanent')).length;
    console.log(`${n} | ${first.reconcile} (${first.wall}) ${first.writes} | ${again.reconcile} (${again.wall}) | ${remove.reconcile}, ${remove.writes}   [fdb entries after: ${fdb}]`);
  } finally {
    spawnSync('ip', ['netns', 'del', `${ns}-local`]);
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(`/etc/netns/${ns}-local`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
