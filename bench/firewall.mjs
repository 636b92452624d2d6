#!/usr/bin/env node
/* global process, console */
// Incremental element changes against a whole-table atomic replace, for weft's firewall table.
// Needs root and a build (npm run build). Works in a throwaway namespace "fwb<hex>" only.
//   node bench/firewall.mjs [ports...]        default: 100 1000 5000
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StateBuilder } from '../dist/compile/index.js';
import { firewallState } from '../dist/compile/firewall.js';
import { closeFd, openFile, setns } from '../dist/kernel/inproc/libc.js';
import { NftContext } from '../dist/kernel/inproc/libnftables.js';
import { providers } from '../dist/providers/index.js';
import { buildProgram, planChanges } from '../dist/reconcile/index.js';
import { HOST, emptyState } from '../dist/state/types.js';

const ns = `fwb${randomBytes(3).toString('hex')}`;
const file = path.join(tmpdir(), `${ns}.json`);
const host = { key: HOST, path: `/run/netns/${ns}` };
const RUNS = 15;

/** The firewall's desired state with `ports` published ports (one container per 10 ports). */
function desired(ports) {
  const out = new StateBuilder();
  // One bridge network (enough for the firewall to be wanted); the ports are added below.
  const bridge = { network: { name: 'bench', internal: false, options: {} }, driver: { firewalled: true }, materialize: true, ifname: 'br-bench' };
  firewallState({ hostNetns: ns, networks: new Map([['bench', bridge]]), containers: new Map() }, out);
  const base = { ns: HOST, family: 'inet', table: 'weft' };
  for (let i = 0; i < ports; i++) {
    const owner = { kind: 'container', name: `c${Math.floor(i / 10)}` };
    const key = { concat: [{ prefix: { addr: '0.0.0.0', len: 0 } }, 'tcp', 10000 + i] };
    const addr = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    out.nft({ kind: 'element', ...base, set: 'pub_addr', key, value: addr, owner });
    out.nft({ kind: 'element', ...base, set: 'pub_port', key, value: 80, owner });
  }
  return out.state;
}

/** The nft commands weft renders to go from `observed` to `want`. */
function commands(observed, want) {
  const plan = planChanges(observed, want, providers, { prune: true, desiredOwners: new Set() });
  const program = buildProgram(plan.changes, providers, host, { desired: want, observed, nsRef: () => host });
  return program.host.nft;
}

/** Runs nft in the namespace: wall-clock and CPU (user + system) milliseconds of the process. */
function timed(args) {
  const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', 'nsenter', `--net=/run/netns/${ns}`, 'nft', ...args], { maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`nft ${args.join(' ')} failed: ${r.stderr}`);
  const m = /cpu ([\d.]+) ([\d.]+)/.exec(String(r.stderr));
  return { cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN };
}

function nft(cmds) {
  writeFileSync(file, JSON.stringify({ nftables: cmds }));
  const t0 = process.hrtime.bigint();
  const { cpu } = timed(['-j', '-f', file]);
  return { wall: Number(process.hrtime.bigint() - t0) / 1e6, cpu };
}

/**
 * The same transactions through libnftables in this process, as weft's in-process kernel loads them:
 * one context made inside the namespace (it keeps its netlink socket there), JSON text in.
 */
let ctx;
function nftInProcess(cmds) {
  if (!ctx) {
    const self = openFile('/proc/thread-self/ns/net');
    const target = openFile(`/run/netns/${ns}`);
    try {
      setns(target, ns);
      ctx = new NftContext();
    } finally {
      setns(self, 'back');
      closeFd(self);
      closeFd(target);
    }
  }
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = ctx.run(JSON.stringify({ nftables: cmds }));
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  if (!r.ok) throw new Error(`libnftables: ${r.error}`);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

execFileSync('ip', ['netns', 'add', ns]);
try {
  const sizes = process.argv.slice(2).map(Number);
  const lines = [];
  console.log('ports | empty transaction | full load | +1 port, incremental | -1 port, incremental | +1 port, whole-table replace | replace JSON KB | nft -j list table');
  console.log('(each: wall ms / CPU ms, medians)');
  for (const n of sizes.length > 0 ? sizes : [100, 1000, 5000]) {
    const empty = emptyState();
    const before = desired(n);
    const after = desired(n + 1);
    const full = commands(empty, before);
    const inc = commands(before, after);
    const dec = commands(after, before);
    // Whole-table replace: one transaction that deletes the table and loads it again.
    const replace = [{ add: { table: { family: 'inet', name: 'weft' } } }, { delete: { table: { family: 'inet', name: 'weft' } } }, ...commands(empty, after)];
    const noop = [{ add: { table: { family: 'inet', name: 'weft' } } }];
    const runs = { noop: [], full: [], add: [], del: [], replace: [], list: [] };
    const inproc = { noop: [], full: [], add: [], del: [] };
    for (let i = 0; i < RUNS; i++) {
      spawnSync('nsenter', [`--net=/run/netns/${ns}`, 'nft', 'flush', 'ruleset']);
      runs.full.push(nft(full));
      runs.noop.push(nft(noop));
      runs.add.push(nft(inc));
      runs.del.push(nft(dec));
      const t0 = process.hrtime.bigint();
      const { cpu } = timed(['-j', 'list', 'table', 'inet', 'weft']);
      runs.list.push({ wall: Number(process.hrtime.bigint() - t0) / 1e6, cpu });
      runs.replace.push(nft(replace));
      nftInProcess([{ flush: { ruleset: null } }]);
      inproc.full.push(nftInProcess(full));
      inproc.noop.push(nftInProcess(noop));
      inproc.add.push(nftInProcess(inc));
      inproc.del.push(nftInProcess(dec));
    }
    const cell = (xs) => `${median(xs.map((x) => x.wall)).toFixed(0)} / ${median(xs.map((x) => x.cpu)).toFixed(0)}`;
    const kb = (JSON.stringify(replace).length / 1024).toFixed(0);
    console.log(`${n} | ${cell(runs.noop)} | ${cell(runs.full)} | ${cell(runs.add)} | ${cell(runs.del)} | ${cell(runs.replace)} | ${kb} | ${cell(runs.list)}`);
    lines.push(`${n} | ${cell(inproc.noop)} | ${cell(inproc.full)} | ${cell(inproc.add)} | ${cell(inproc.del)}`);
  }
  console.log('\nin-process (libnftables in this process, as weft loads it)');
  console.log('ports | empty transaction | full load | +1 port, incremental | -1 port, incremental');
  for (const l of lines) console.log(l);
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
  rmSync(file, { force: true });
}
