#!/usr/bin/env node
/* global process, console, performance */
// Times the daemon's drift pass (src/reconcile/scoped.ts) without the daemon: N containers applied
// in a throwaway host namespace, then, many times over, one namespace's cached snapshot is
// forgotten as a kernel event would (links/addresses only) and a drift pass observes and plans it
// (nothing to repair: the cost of looking). Scopes: one container; the host and one container.
//
//   npm run build && sudo node bench/drift-pass.mjs [--containers 1000] [--tries 200]
//
// Everything lives in namespaces this script creates; they are removed at the end.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const N = opt('--containers', 1000);
const TRIES = opt('--tries', 200);
const dist = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href);
const { makeContext, makeLogger } = await dist('cli/context.js');
const { loadModel } = await dist('model/index.js');
const { CachingKernel } = await dist('kernel/index.js');
const { reconcile, nsRefsOf } = await dist('reconcile/reconcile.js');
const { makeBaseline, reconcileScoped } = await dist('reconcile/scoped.js');

const host = `wdp${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(path.join(tmpdir(), `weft-bench-${host}-`));
const sh = (argv) => spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
const must = (argv) => {
  const r = sh(argv);
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
function cleanup() {
  const names = sh(['ip', 'netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0]).filter((n) => n === host || n?.startsWith(`${host}-`));
  for (const n of names.sort((a, b) => b.length - a.length)) sh(['ip', 'netns', 'del', n]);
  for (const d of sh(['ls', '/etc/netns']).stdout.split('\n').filter((d) => d === host || d.startsWith(`${host}-`))) rmSync(`/etc/netns/${d}`, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], p90: s[Math.floor(s.length * 0.9)], worst: s.at(-1) };
};

try {
  must(['ip', 'netns', 'add', host]);
  must(['ip', '-n', host, 'link', 'set', 'lo', 'up']);
  mkdirSync(`/etc/netns/${host}`, { recursive: true });
  writeFileSync(`/etc/netns/${host}/resolv.conf`, 'nameserver 198.18.0.53\n');
  const manifests = path.join(dir, 'manifests');
  mkdirSync(manifests);
  const walkthrough = path.join(root, 'examples/walkthrough');
  writeFileSync(path.join(manifests, 'networks.yaml'), readFileSync(path.join(walkthrough, 'networks.yaml'), 'utf8'));
  writeFileSync(
    path.join(manifests, 'containers.yaml'),
    readFileSync(path.join(walkthrough, 'containers.yaml'), 'utf8') +
      Array.from({ length: N }, (_, i) => `\n---\napiVersion: weft/v1\nkind: Container\nmetadata: {name: extra${i}}\nspec: {networks: [isolated_nw], ports: ["${20000 + i}:80"]}\n`).join(''),
  );
  const t = Date.now();
  must(['node', path.join(root, 'dist/cli/main.js'), '--host-netns', host, '--state-dir', path.join(dir, 'state'), 'apply', '-f', manifests]);
  console.log(`host ${host}: ${N + 3} containers with a published port each, applied in ${Date.now() - t} ms`);

  const g = { hostNetns: host, stateDir: path.join(dir, 'state'), logLevel: 'warn' };
  const log = makeLogger(g);
  const model = await loadModel([manifests]);
  const base = await makeContext(g, model, log);
  const kernel = new CachingKernel(base.kernel);
  const ctx = { ...base, kernel };
  let t0 = performance.now();
  const full = await reconcile(model, ctx, { prune: false, dryRun: true });
  console.log(`full plan (cold cache): ${Math.round(performance.now() - t0)} ms, ${full.plan.changes.length} changes`);
  t0 = performance.now();
  await reconcile(model, ctx, { prune: false, dryRun: true });
  console.log(`full plan (every namespace cached): ${Math.round(performance.now() - t0)} ms`);
  const baseline = makeBaseline(full.desired, full.observation, nsRefsOf(full.topology), full.owners);
  const ns = `${host}-extra${Math.floor(N / 2)}`;
  for (const [label, scope] of [
    ['one container namespace', [ns]],
    ['the host and one container namespace', ['@host', ns]],
  ]) {
    const xs = [];
    for (let i = 0; i < TRIES; i++) {
      kernel.invalidate(scope, 'ip');
      const s = performance.now();
      const r = await reconcileScoped(baseline, ctx, new Set(scope), false);
      xs.push(performance.now() - s);
      if (r.plan.changes.length > 0) throw new Error(`a drift pass found changes: ${r.plan.changes.map((c) => c.id).join(', ')}`);
    }
    const st = stats(xs);
    console.log(`drift pass, ${label}: median ${st.median.toFixed(1)} ms, p90 ${st.p90.toFixed(1)} ms, worst ${st.worst.toFixed(1)} ms (${TRIES} tries, read + observe + plan, nothing to repair)`);
  }
  // What the host's read alone costs (links, addresses, routes, sysctls; its tables kept).
  const { readSpec } = await dist('providers/index.js');
  const hostReq = { ns: full.observation.host, ...readSpec(full.desired, ctx.providers, '@host'), nftTables: [] };
  const reads = [];
  for (let i = 0; i < Math.min(TRIES, 50); i++) {
    const s = performance.now();
    await base.kernel.readNamespaces([hostReq]);
    reads.push(performance.now() - s);
  }
  const hr = stats(reads);
  console.log(`the host's read alone (${full.observation.hostSnapshot.links.length} links, ${hostReq.sysctls.length} sysctls, no tables): median ${hr.median.toFixed(1)} ms, p90 ${hr.p90.toFixed(1)} ms`);
  await base.kernel.close?.();
} finally {
  cleanup();
}
