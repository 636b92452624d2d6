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
  firewallState({ hostNetns: ns, networks: new Map(), containers: new Map() }, out);
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

function nft(cmds) {
  writeFileSync(file, JSON.stringify({ nftables: cmds }));
  const t0 = process.hrtime.bigint();
  const r = spawnSync('nsenter', [`--net=/run/netns/${ns}`, 'nft', '-j', '-f', file]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`nft failed: ${r.stderr}`);
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

execFileSync('ip', ['netns', 'add', ns]);
try {
  const sizes = process.argv.slice(2).map(Number);
  console.log('ports | empty transaction ms | full load ms | +1 port (incremental) ms | -1 port (incremental) ms | +1 port (whole-table replace) ms | replace JSON KB');
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
    const noops = [];
    const loads = [];
    const adds = [];
    const dels = [];
    const replaces = [];
    for (let i = 0; i < RUNS; i++) {
      spawnSync('nsenter', [`--net=/run/netns/${ns}`, 'nft', 'flush', 'ruleset']);
      loads.push(nft(full));
      noops.push(nft(noop));
      adds.push(nft(inc));
      dels.push(nft(dec));
      replaces.push(nft(replace));
    }
    const kb = (JSON.stringify(replace).length / 1024).toFixed(0);
    console.log(`${n} | ${median(noops).toFixed(1)} | ${median(loads).toFixed(1)} | ${median(adds).toFixed(1)} | ${median(dels).toFixed(1)} | ${median(replaces).toFixed(1)} | ${kb}`);
  }
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
  rmSync(file, { force: true });
}
