import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ToolContext } from '../lib/context.js';
import { run, sleep, startBackground } from '../lib/proc.js';
import type { Background, RunResult } from '../lib/proc.js';
import type { Sample } from '../lib/results.js';
import { CHANGED_HOST_PORT, PUBLISH, container, containers, writeManifests } from '../lib/topology.js';
import { checkContainer, countNamespaces } from './verify.js';

/**
 * weft, driven through its built CLI exactly as a user runs it (`node dist/cli/main.js`), in a
 * throwaway host namespace (--host-netns). Wall time therefore includes Node's start-up.
 */

/** The summary line weft prints on stderr after apply and destroy. */
export function parseSummary(r: RunResult): Partial<Sample> {
  const cost = /\((?:[^()]*?, )?(\d+) processes, (\d+) kernel writes\)/.exec(r.stderr);
  const ms = /in (\d+) ms|\((\d+) ms,/.exec(r.stderr);
  const out: Partial<Sample> = {};
  if (cost) {
    out.spawns = Number(cost[1]);
    out.writes = Number(cost[2]);
  }
  if (ms) out.selfMs = Number(ms[1] ?? ms[2]);
  return out;
}

export interface WeftFeatures {
  /** `weft watch` exists in this build, and the options it accepts. */
  watch: boolean;
  watchOptions: string;
}

export async function weftFeatures(bin: string): Promise<WeftFeatures> {
  // An unknown command's --help prints the program's help: only `Usage: weft watch` means it exists.
  const r = await run(['node', bin, 'watch', '--help'], { timeoutMs: 30_000 });
  return { watch: r.code === 0 && /^Usage: weft watch/m.test(r.stdout), watchOptions: r.stdout };
}

export async function runWeft(ctx: ToolContext, bin: string, features: WeftFeatures): Promise<void> {
  const host = await ctx.sandbox.hostNamespace(`${ctx.sandbox.weftPrefix}w${ctx.run < 0 ? 'p' : ctx.run}`);
  try {
    const dir = await ctx.sandbox.sub(`weft-${ctx.n}-${ctx.run}/manifests`);
    const state = path.join(path.dirname(dir), 'state');
    const weft = (args: string[]) => ({ argv: ['node', bin, '--host-netns', host, '--state-dir', state, ...args] });
    const all = containers(ctx.n);
    const extra = container(ctx.n);
    const moved = [container(0, CHANGED_HOST_PORT), ...all.slice(1)];

    await writeManifests(dir, all);
    await ctx.step('cold', [weft(['apply', '-f', dir])], parseSummary);
    await verifyTopology(ctx, host, all.length);
    // weft writes a container's /etc/netns files after its namespace: the watch run's finish line.
    const filesWritten = existsSync(`/etc/netns/${host}-c0/hosts`);

    await ctx.step('noop', [weft(['apply', '-f', dir])], parseSummary);

    await writeManifests(dir, [...all, extra]);
    await ctx.step('add', [weft(['apply', '-f', dir])], parseSummary);
    await checkContainer(`${host}-${extra.name}`);

    await writeManifests(dir, all);
    await ctx.step('remove', [weft(['apply', '--prune', '-f', dir])], parseSummary);

    if (PUBLISH) {
      await writeManifests(dir, moved);
      await ctx.step('port', [weft(['apply', '-f', dir])], parseSummary);
    }

    if (!ctx.probe) {
      if (features.watch) {
        await measureWatch(ctx, bin, features, { host, state, dir, base: moved, extra, filesWritten });
        await writeManifests(dir, moved);
        const back = await run(weft(['apply', '--prune', '-f', dir]).argv, { timeoutMs: ctx.cfg.commandTimeoutMs });
        if (back.code !== 0) throw new Error(`weft apply --prune after the watch run failed: ${back.stderr}`);
      } else {
        ctx.results.get('weft', ctx.n, 'watch').unavailable = 'not available: this build has no `weft watch`';
      }
    }

    await ctx.step('destroy', [weft(['destroy', '-f', dir])], parseSummary);
    const left = await countNamespaces(`${host}-`);
    if (left !== 0) throw new Error(`weft destroy left ${left} container namespaces`);
  } finally {
    await ctx.sandbox.removeNamespaces(host);
  }
}

/** After the cold apply: every namespace exists, a sample container is wired, ports are (or are not) programmed. */
async function verifyTopology(ctx: ToolContext, host: string, n: number): Promise<void> {
  const made = await countNamespaces(`${host}-`);
  if (made !== n) throw new Error(`weft cold apply made ${made} container namespaces, expected ${n}`);
  await checkContainer(`${host}-c0`);
  await checkContainer(`${host}-c${n - 1}`);
  const tables = await run(['nsenter', `--net=/run/netns/${host}`, 'nft', 'list', 'tables']);
  const weftTables = tables.stdout.split('\n').filter((l) => l.includes('weft'));
  if (weftTables.length === 0 && PUBLISH) {
    ctx.note('cold', 'published ports are in the manifests but this build programs no nftables (no firewall yet): ports not measured');
    ctx.note('port', 'this build programs no nftables: the port change only rewrites nothing in the kernel');
  }
}

interface WatchSetup {
  host: string;
  state: string;
  dir: string;
  base: ReturnType<typeof containers>;
  extra: ReturnType<typeof container>;
  filesWritten: boolean;
}

/**
 * Starts `weft watch` on the converged manifests, waits until the daemon is idle, then replaces
 * the containers file with one that adds a container, and times until that container is usable:
 * its /etc/netns files exist (weft writes them last; if this build writes none, its namespace) and
 * the namespace has its address and default route.
 */
async function measureWatch(ctx: ToolContext, bin: string, f: WeftFeatures, s: WatchSetup): Promise<void> {
  const args = ['node', bin, '--host-netns', s.host, '--state-dir', s.state, '--log-level', 'info', '--log-format', 'json', 'watch', '-f', s.dir];
  if (f.watchOptions.includes('--listen')) args.push('--listen', `127.0.0.1:${20000 + Math.floor(Math.random() * 20000)}`);
  // No periodic git fetch or full resync in the middle of a measurement: only the edit counts.
  if (f.watchOptions.includes('--interval')) args.push('--interval', '1h');
  if (f.watchOptions.includes('--resync')) args.push('--resync', '1h');
  const daemon = startBackground(args);
  try {
    // Its first reconcile must be over (the daemon's CPU alone can look idle while the shells it
    // runs read the namespaces), then it must be idle.
    const started0 = Date.now();
    while (!/"msg":"reconcile (converged|applied)"/.test(daemon.output()) && Date.now() - started0 < 300_000) {
      if (daemon.child.exitCode !== null) throw new Error(`weft watch exited (${daemon.child.exitCode}): ${daemon.output().slice(-2000)}`);
      await sleep(100);
    }
    const settled = await waitDaemonIdle(daemon, 180_000);
    if (!settled) throw new Error(`weft watch did not settle within 180 s; its output:\n${daemon.output().slice(-2000)}`);
    const idleBefore = await ctx.quiet();
    const ns = `${s.host}-${s.extra.name}`;
    const marker = s.filesWritten ? `/etc/netns/${ns}/hosts` : `/run/netns/${ns}`;
    if (existsSync(marker) || existsSync(`/run/netns/${ns}`)) throw new Error(`${ns} exists before the watch edit`);
    const started = performance.now();
    await writeManifests(s.dir, [...s.base, s.extra]);
    const done = await waitConverged(ns, marker, 120_000);
    const wallMs = performance.now() - started;
    if (!done) throw new Error(`weft watch did not converge on the edit within 120 s; its output:\n${daemon.output().slice(-2000)}`);
    const rss = (await groupUsage(daemon.child.pid!)).peakRssKb;
    ctx.record('watch', { wallMs, ...(rss > 0 ? { maxRssKb: rss } : {}) }, idleBefore);
  } finally {
    await daemon.stop();
  }
}

/** Polls for the container's files (cheap stat, every 2 ms), then confirms its route. */
async function waitConverged(ns: string, marker: string, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (existsSync(marker) && existsSync(`/run/netns/${ns}`)) {
      try {
        await checkContainer(ns);
        return true;
      } catch {
        /* files first, route not yet: keep polling */
      }
    }
    await sleep(2);
  }
  return false;
}

/** The daemon is idle when its processes used < 5 ms CPU over 500 ms, at least 1 s after start. */
async function waitDaemonIdle(d: Background, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  await sleep(1000);
  let last = (await groupUsage(d.child.pid!)).ticks;
  while (Date.now() < deadline) {
    if (d.child.exitCode !== null) throw new Error(`weft watch exited (${d.child.exitCode}): ${d.output().slice(-2000)}`);
    await sleep(500);
    const now = (await groupUsage(d.child.pid!)).ticks;
    if (now - last < 1) return true; // clock ticks are 10 ms
    last = now;
  }
  return false;
}

/** The processes of a process group: CPU used so far (clock ticks) and the largest VmHWM (kB). */
async function groupUsage(pgid: number): Promise<{ ticks: number; peakRssKb: number }> {
  let ticks = 0;
  let peakRssKb = 0;
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = await readFile(`/proc/${e}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state is field 3, pgrp 5, utime 14, stime 15.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) !== pgid) continue;
      ticks += Number(f[11]) + Number(f[12]);
      const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${e}/status`, 'utf8'));
      if (m) peakRssKb = Math.max(peakRssKb, Number(m[1]));
    } catch {
      /* exited meanwhile */
    }
  }
  return { ticks, peakRssKb };
}
