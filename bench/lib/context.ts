import { waitQuiet } from './machine.js';
import type { ProgramStats, RunResult } from './proc.js';
import { countExecs, measure } from './proc.js';
import type { Op, Results, Sample, Tool } from './results.js';
import type { Sandbox } from './sandbox.js';

/** Settings of one benchmark invocation (from BENCH_* environment variables). */
export interface BenchConfig {
  sizes: number[];
  runs: number;
  /**
   * Runs of netavark and CNI per size (they take minutes per run at N=1000), aligned with
   * `sizes`; each at most `runs`.
   */
  peerRuns: number[];
  /** The probe run includes netavark and CNI only up to this N (under strace they are ~10× slower). */
  peerProbeMax: number;
  tools: Tool[];
  /** One untimed run first, under strace: counts programs executed; doubles as a warm-up. */
  probe: boolean;
  /** Measure the peers' full teardown too (netavark teardown / CNI DEL per container: slow). */
  peerDestroy: boolean;
  /** Wait before each step until the CPUs are this idle (0..1), for at most idleWaitMs. */
  idle: number;
  idleWaitMs: number;
  /** Per-command limit. */
  commandTimeoutMs: number;
  /** Stop starting new runs after this long; what was measured is still reported. */
  budgetMs: number;
  /** Parallel container batches in the floor (the baseline's best: 2). */
  floorParallel: number;
  out: string;
  repoDir: string;
}

/** A command of a step. `driverExecs`: programs it runs only to drive the tool (not counted). */
export interface Command {
  argv: string[];
  input?: string;
  driverExecs?: number;
}

export interface ToolContext {
  tool: Tool;
  n: number;
  /** Run number; -1 is the probe run. */
  run: number;
  probe: boolean;
  cfg: BenchConfig;
  sandbox: Sandbox;
  results: Results;
  /** This run's scratch folder. */
  tmp: string;
  /**
   * Runs the commands of one measured operation in order. Timed runs record wall time, CPU, peak
   * RSS (and what `parse` extracts); the probe run records programs executed. Throws if one fails.
   */
  step(op: Op, cmds: Command[], parse?: (last: RunResult) => Partial<Sample>): Promise<RunResult[]>;
  /** Records a sample measured some other way (the watch daemon). */
  record(op: Op, sample: Omit<Sample, 'idleBefore'>, idleBefore: number): void;
  note(op: Op, text: string): void;
  quiet(): Promise<number>;
}

export function toolContext(base: Omit<ToolContext, 'step' | 'record' | 'note' | 'quiet'>): ToolContext {
  const ctx: ToolContext = {
    ...base,
    quiet: () => waitQuiet(base.cfg.idle, base.cfg.idleWaitMs),
    note: (op, text) => base.results.note(base.tool, base.n, op, text),
    record: (op, sample, idleBefore) => {
      base.results.get(base.tool, base.n, op).samples.push({ ...sample, idleBefore });
    },
    async step(op, cmds, parse) {
      const opts = (c: Command) => ({ timeoutMs: base.cfg.commandTimeoutMs, ...(c.input !== undefined ? { input: c.input } : {}) });
      const fail = (c: Command, r: RunResult) =>
        new Error(`${base.tool} ${op} (N=${base.n}): ${c.argv.join(' ').slice(0, 200)} exited ${r.code}: ${(r.stderr + r.stdout).trim().slice(-1500)}`);
      const outs: RunResult[] = [];
      if (base.probe) {
        let execs = 0;
        const programs: Record<string, ProgramStats> = {};
        for (const c of cmds) {
          const p = await countExecs(c.argv, base.tmp, opts(c));
          if (p.result.code !== 0) throw fail(c, p.result);
          outs.push(p.result);
          execs += p.execs - (c.driverExecs ?? 0);
          for (const [name, s] of Object.entries(p.programs)) {
            const t = (programs[name] ??= { count: 0, totalMs: 0, maxMs: 0 });
            t.count += s.count;
            t.totalMs += s.totalMs;
            t.maxMs = Math.max(t.maxMs, s.maxMs);
          }
        }
        base.results.get(base.tool, base.n, op).probe = { execs, programs };
        return outs;
      }
      const idleBefore = await ctx.quiet();
      const sample: Sample = { wallMs: 0, cpuMs: 0, maxRssKb: 0, idleBefore };
      for (const c of cmds) {
        const m = await measure(c.argv, base.tmp, opts(c));
        if (m.timedOut) {
          // Record the lower bound: "did not finish in T" is a result too.
          base.results.get(base.tool, base.n, op).samples.push({ wallMs: sample.wallMs + m.wallMs, idleBefore, timedOut: true });
          throw new Error(`${base.tool} ${op} (N=${base.n}) did not finish within BENCH_CMD_TIMEOUT_S (${base.cfg.commandTimeoutMs / 1000} s)`);
        }
        if (m.code !== 0) throw fail(c, m);
        outs.push(m);
        sample.wallMs += m.wallMs;
        sample.cpuMs = (sample.cpuMs ?? 0) + m.cpuMs;
        sample.maxRssKb = Math.max(sample.maxRssKb ?? 0, m.maxRssKb);
      }
      const last = outs.at(-1);
      if (parse && last) Object.assign(sample, parse(last));
      base.results.get(base.tool, base.n, op).samples.push(sample);
      return outs;
    },
  };
  return ctx;
}
