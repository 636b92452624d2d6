/**
 * `npm run bench`: weft against netavark, the CNI bridge plugin and the `ip -batch` floor, for N
 * containers over 10 bridge networks with one published port each. Everything happens inside
 * throwaway network namespaces (bn<id>…, bx<id>…) that are removed at the end, on failure and on
 * Ctrl-C; a later run removes what a killed run left. Needs root.
 *
 * Settings (environment):
 *   BENCH_SIZES=100,1000       container counts
 *   BENCH_RUNS=5               timed runs per size (medians)
 *   BENCH_PEER_RUNS=5,2        netavark/CNI runs per size (default BENCH_RUNS)
 *   BENCH_TOOLS=weft,netavark,cni,floor
 *   BENCH_PROBE=1              an untimed first run under strace (programs run, nft time)
 *   BENCH_PEER_PROBE_MAX=100   largest N at which netavark/CNI join the probe run
 *   BENCH_PEER_DESTROY=1       time the peers' per-container teardown too
 *   BENCH_PORTS=0              no published ports (every tool skips its port machinery)
 *   BENCH_IDLE=0.7 BENCH_IDLE_WAIT_S=10   wait for this much idle CPU before a sample
 *   BENCH_CMD_TIMEOUT_S=1200 BENCH_BUDGET_MIN=120 BENCH_FLOOR_PARALLEL=2
 *   BENCH_OUT=bench/results/latest.json  (a .md with the tables is written next to it)
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchConfig, ToolContext } from './lib/context.js';
import { toolContext } from './lib/context.js';
import { loadAverage, machineInfo } from './lib/machine.js';
import { checkTargets, idleMedian, markdown } from './lib/report.js';
import type { Op, Tool } from './lib/results.js';
import { OP_LABEL, Results, TOOL_LABEL, TOOLS, medians } from './lib/results.js';
import { Sandbox } from './lib/sandbox.js';
import { runCni } from './tools/cni.js';
import { NETAVARK, runNetavark } from './tools/netavark.js';
import { runFloor } from './tools/floor.js';
import { runWeft, weftFeatures } from './tools/weft.js';

const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const weftBin = path.join(repoDir, 'dist/cli/main.js');

function config(): BenchConfig {
  const env = process.env;
  const num = (name: string, dflt: number) => {
    const v = env[name];
    if (v === undefined || v === '') return dflt;
    const x = Number(v);
    if (!Number.isFinite(x)) throw new Error(`${name}=${v}: expected a number`);
    return x;
  };
  const tools = (env['BENCH_TOOLS'] ?? TOOLS.join(',')).split(',').map((t) => t.trim()) as Tool[];
  for (const t of tools) if (!TOOLS.includes(t)) throw new Error(`BENCH_TOOLS: unknown tool ${t} (known: ${TOOLS.join(', ')})`);
  const sizes = (env['BENCH_SIZES'] ?? '100,1000').split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_SIZES=${env['BENCH_SIZES']}: expected positive integers`);
  const runs = num('BENCH_RUNS', 5);
  // "5,2": 5 runs at the first size, 2 at the second; one number applies to every size.
  const peer = (env['BENCH_PEER_RUNS'] ?? String(runs)).split(',').map(Number);
  return {
    sizes,
    runs,
    peerRuns: sizes.map((_, i) => Math.min(runs, peer[i] ?? peer.at(-1) ?? runs)),
    peerProbeMax: num('BENCH_PEER_PROBE_MAX', 100),
    tools,
    probe: num('BENCH_PROBE', 1) !== 0,
    peerDestroy: num('BENCH_PEER_DESTROY', 1) !== 0,
    idle: num('BENCH_IDLE', 0.7),
    idleWaitMs: num('BENCH_IDLE_WAIT_S', 10) * 1000,
    commandTimeoutMs: num('BENCH_CMD_TIMEOUT_S', 1200) * 1000,
    budgetMs: num('BENCH_BUDGET_MIN', 120) * 60_000,
    floorParallel: num('BENCH_FLOOR_PARALLEL', 2),
    out: env['BENCH_OUT'] ?? path.join(repoDir, 'bench/results/latest.json'),
    repoDir,
  };
}

/** Why a tool cannot run on this machine, or undefined. */
function missing(tool: Tool): string | undefined {
  const need: Record<Tool, string[]> = {
    weft: [weftBin],
    netavark: [NETAVARK, '/usr/sbin/iptables'],
    cni: ['/usr/lib/cni/bridge', '/usr/lib/cni/portmap', '/usr/lib/cni/host-local', '/usr/sbin/iptables'],
    floor: ['/usr/sbin/nft'],
  };
  const absent = need[tool].filter((f) => !existsSync(f));
  return absent.length > 0 ? `not installed (${absent.join(', ')}); run bench/setup.sh` : undefined;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark creates network namespaces: run it as root');
  for (const f of ['/usr/bin/time', '/usr/bin/strace']) if (!existsSync(f)) throw new Error(`${f} is missing: run bench/setup.sh`);
  const cfg = config();
  const started = Date.now();
  const sandbox = await Sandbox.create();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`\nbench: ${signal}: cleaning up`);
    void sandbox.cleanup().finally(() => process.exit(130));
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => stop(s));

  const results = new Results();
  try {
    const info = await machineInfo(repoDir);
    const loadStart = await loadAverage();
    const features = await weftFeatures(weftBin);
    console.error(
      `bench: run ${sandbox.id}: sizes ${cfg.sizes.join(',')}, ${cfg.runs} runs (netavark and CNI: ${cfg.peerRuns.join(',')})${cfg.probe ? ' + 1 probe run' : ''}, tools ${cfg.tools.join(',')}; ` +
        `load ${loadStart.join(' ')}; weft watch ${features.watch ? 'available' : 'not available'}`,
    );
    const usable = cfg.tools.filter((t) => {
      const why = missing(t);
      if (why) for (const n of cfg.sizes) for (const op of ['cold', 'add', 'remove', 'port', 'destroy'] as Op[]) results.get(t, n, op).unavailable = why;
      if (why) console.error(`bench: ${TOOL_LABEL[t]}: ${why}`);
      return !why;
    });
    for (const n of cfg.sizes) {
      for (const t of usable.filter((x) => x !== 'weft')) {
        results.get(t, n, 'noop').unavailable = 'n/a: runs per container, nothing to reconcile';
        results.get(t, n, 'watch').unavailable = 'n/a';
      }
      const failed = new Set<Tool>();
      for (let r = cfg.probe ? -1 : 0; r < cfg.runs; r++) {
        if (Date.now() - started > cfg.budgetMs && r >= 0) {
          console.error(`bench: time budget (BENCH_BUDGET_MIN) spent: N=${n} stops after ${r} runs`);
          break;
        }
        for (const tool of usable) {
          if (failed.has(tool) || stopping) continue;
          const peer = tool === 'netavark' || tool === 'cni';
          if (peer && (r >= cfg.peerRuns[cfg.sizes.indexOf(n)]! || (r < 0 && n > cfg.peerProbeMax))) continue;
          const t0 = Date.now();
          const ctx: ToolContext = toolContext({ tool, n, run: r, probe: r < 0, cfg, sandbox, results, tmp: await sandbox.sub(`tmp-${tool}-${n}-${r}`) });
          try {
            if (tool === 'weft') await runWeft(ctx, weftBin, features);
            else if (tool === 'netavark') await runNetavark(ctx);
            else if (tool === 'cni') await runCni(ctx);
            else await runFloor(ctx);
          } catch (err) {
            if (stopping) return;
            failed.add(tool);
            const why = err instanceof Error ? err.message : String(err);
            console.error(`bench: ${TOOL_LABEL[tool]} N=${n} ${r < 0 ? 'probe' : `run ${r + 1}`} failed: ${why}`);
            results.failures.push({ tool, n, run: r, message: why });
          }
          const cold = results.find(tool, n, 'cold');
          const last = r < 0 ? `probe: ${cold?.probe?.execs ?? '?'} programs` : `cold ${cold?.samples.at(-1)?.wallMs.toFixed(0) ?? '?'} ms`;
          console.error(`bench: N=${n} ${r < 0 ? 'probe' : `run ${r + 1}/${cfg.runs}`} ${TOOL_LABEL[tool]}: ${last} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        }
      }
    }
    const loadEnd = await loadAverage();
    const targets = checkTargets(results, cfg);
    const load = { start: loadStart, end: loadEnd, idleMedian: idleMedian(results) };
    const md = markdown(results, cfg, info, load, targets);
    console.log(md);
    await mkdir(path.dirname(cfg.out), { recursive: true });
    const json = {
      machine: info,
      load,
      config: { ...cfg, repoDir: undefined },
      durationS: Math.round((Date.now() - started) / 1000),
      ops: OP_LABEL,
      results: results.all().map((r) => ({ ...r, median: medians(r) ?? null })),
      failures: results.failures,
      targets,
      markdown: md,
    };
    await writeFile(cfg.out, `${JSON.stringify(json, null, 2)}\n`);
    await writeFile(cfg.out.replace(/\.json$/, '.md'), `${md}\n`);
    console.error(`bench: wrote ${cfg.out} (and .md) in ${json.durationS} s`);
  } finally {
    if (!stopping) await sandbox.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
