import type { ProgramStats } from './proc.js';

/** What the benchmark measures, and how samples become medians. */

export const OPS = ['cold', 'noop', 'add', 'remove', 'port', 'watch', 'destroy'] as const;
export type Op = (typeof OPS)[number];

export const OP_LABEL: Record<Op, string> = {
  cold: 'cold apply (from empty)',
  noop: 'no-op apply',
  add: 'add 1 container',
  remove: 'remove 1 container (--prune)',
  port: 'change 1 published port',
  watch: 'watch: edit -> converged',
  destroy: 'destroy',
};

export const TOOLS = ['weft', 'netavark', 'cni', 'floor'] as const;
export type Tool = (typeof TOOLS)[number];

export const TOOL_LABEL: Record<Tool, string> = {
  weft: 'weft',
  netavark: 'netavark',
  cni: 'CNI bridge+portmap',
  floor: 'ip -batch floor',
};

export interface Sample {
  wallMs: number;
  /** user+system CPU of the whole process tree. */
  cpuMs?: number;
  /** Peak RSS of the largest process (weft: its node process). */
  maxRssKb?: number;
  /** weft's own figures from its summary line: processes it started, kernel writes, its duration. */
  spawns?: number;
  writes?: number;
  selfMs?: number;
  /** Fraction of CPU idle just before the sample (other work on the machine). */
  idleBefore: number;
  /** The command hit BENCH_CMD_TIMEOUT_S: wallMs is a lower bound. */
  timedOut?: boolean;
}

export interface Probe {
  /** Programs executed (strace, untimed run). */
  execs: number;
  programs: Record<string, ProgramStats>;
}

export interface OpResult {
  tool: Tool;
  n: number;
  op: Op;
  samples: Sample[];
  probe?: Probe;
  notes: string[];
  /** Set when the op could not be measured (tool missing, feature absent, failure). */
  unavailable?: string;
}

export interface Medians {
  wallMs: number;
  /** Some sample hit the time limit: wallMs is a lower bound. */
  timedOut?: boolean;
  cpuMs?: number;
  maxRssKb?: number;
  spawns?: number;
  writes?: number;
  selfMs?: number;
  runs: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function medianOf(samples: readonly Sample[], key: keyof Sample): number | undefined {
  const xs = samples.map((s) => s[key]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return xs.length > 0 ? median(xs) : undefined;
}

export function medians(r: OpResult): Medians | undefined {
  if (r.samples.length === 0) return undefined;
  const out: Medians = { wallMs: medianOf(r.samples, 'wallMs') ?? Number.NaN, runs: r.samples.length };
  if (r.samples.some((s) => s.timedOut)) out.timedOut = true;
  for (const k of ['cpuMs', 'maxRssKb', 'spawns', 'writes', 'selfMs'] as const) {
    const v = medianOf(r.samples, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** All results of one benchmark invocation, keyed by tool, N and operation. */
export class Results {
  private readonly byKey = new Map<string, OpResult>();
  /** Runs that failed: the tool's remaining runs at that N are skipped. */
  readonly failures: { tool: Tool; n: number; run: number; message: string }[] = [];

  get(tool: Tool, n: number, op: Op): OpResult {
    const key = `${tool}|${n}|${op}`;
    let r = this.byKey.get(key);
    if (!r) this.byKey.set(key, (r = { tool, n, op, samples: [], notes: [] }));
    return r;
  }

  find(tool: Tool, n: number, op: Op): OpResult | undefined {
    return this.byKey.get(`${tool}|${n}|${op}`);
  }

  note(tool: Tool, n: number, op: Op, text: string): void {
    const r = this.get(tool, n, op);
    if (!r.notes.includes(text)) r.notes.push(text);
  }

  all(): OpResult[] {
    return [...this.byKey.values()];
  }
}
