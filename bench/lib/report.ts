import type { BenchConfig } from './context.js';
import type { MachineInfo } from './machine.js';
import type { Medians, Op, OpResult, Results, Tool } from './results.js';
import { OP_LABEL, OPS, TOOL_LABEL, medians, median } from './results.js';
import { PUBLISH } from './topology.js';

/** Turns results into Markdown tables (to paste into the README) and a target check list. */

export interface LoadInfo {
  /** /proc/loadavg at start and end. */
  start: [number, number, number];
  end: [number, number, number];
  /** Median CPU idle fraction measured just before the timed samples. */
  idleMedian: number;
}

export interface TargetCheck {
  target: string;
  met: boolean | null;
  evidence: string;
}

const fmt = (x: number | undefined, digits = 0): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const ms = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1));

function perContainer(op: Op, m: Medians | undefined, n: number): string {
  if (!m || (op !== 'cold' && op !== 'destroy')) return '';
  return ms(m.wallMs / n);
}

function cell(r: OpResult | undefined): string {
  if (!r) return '–';
  const m = medians(r);
  if (m) return m.timedOut ? `> ${ms(m.wallMs)}` : ms(m.wallMs);
  return r.unavailable ? 'n/a' : '–';
}

function ratio(a: OpResult | undefined, b: OpResult | undefined): string {
  const x = a && medians(a);
  const y = b && medians(b);
  if (!x || !y || !(y.wallMs > 0)) return '–';
  if (x.timedOut) return '–';
  const q = x.wallMs / y.wallMs;
  // A peer that did not finish: its time is a lower bound, so the ratio is an upper bound.
  return `${y.timedOut ? '< ' : ''}${q >= 10 ? q.toFixed(0) : q.toFixed(2)}×`;
}

export function markdown(results: Results, cfg: BenchConfig, info: MachineInfo, load: LoadInfo, targets: TargetCheck[]): string {
  const out: string[] = [];
  const v = info.versions;
  out.push(
    `Measured ${info.date.slice(0, 10)} on ${info.nproc} × ${info.cpu}, ${info.memGiB} GiB, Linux ${info.kernel}; ` +
      `node ${v['node']}, iproute2 ${v['iproute2']}, nftables ${v['nftables']}, netavark ${v['netavark']}, ` +
      `CNI plugins ${v['containernetworking-plugins']}, iptables ${v['iptables']}; weft ${v['weft']}.`,
    '',
    `Load average ${load.start.map((x) => x.toFixed(2)).join(' / ')} at the start, ${load.end.map((x) => x.toFixed(2)).join(' / ')} at the end; ` +
      `median CPU idle just before a sample: ${(load.idleMedian * 100).toFixed(0)}%` +
      (load.idleMedian < 0.8 ? ' (other work was running: expect noise).' : '.'),
    '',
  );
  for (const n of cfg.sizes) {
    const got = (tool: Tool, op: Op) => results.find(tool, n, op);
    const runs = Math.max(0, ...results.all().filter((r) => r.n === n).map((r) => r.samples.length));
    out.push(`#### N = ${n} containers, 10 bridge networks, ${PUBLISH ? '1 published port each' : 'no published ports'} (medians; weft: ${runs} runs)`, '');
    out.push(
      '| weft | wall ms | ms/container | weft ms | CPU ms | processes | programs run | kernel writes | peak RSS MB |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const op of OPS) {
      const r = got('weft', op);
      if (!r) continue;
      const m = medians(r);
      if (!m) {
        out.push(`| ${OP_LABEL[op]} | ${r.unavailable ?? 'not measured'} | | | | | | | |`);
        continue;
      }
      out.push(
        `| ${OP_LABEL[op]} | ${ms(m.wallMs)} | ${perContainer(op, m, n)} | ${ms(m.selfMs)} | ${ms(m.cpuMs)} | ${fmt(m.spawns)} | ${fmt(r.probe?.execs)} | ${fmt(m.writes)} | ${fmt(m.maxRssKb !== undefined ? m.maxRssKb / 1024 : undefined, 0)} |`,
      );
    }
    out.push('');
    const peers = cfg.tools.filter((t) => t !== 'weft');
    if (peers.length > 0) {
      const runsOf = (t: Tool) => Math.max(0, ...results.all().filter((r) => r.n === n && r.tool === t).map((r) => r.samples.length));
      out.push(
        `| wall ms (runs) | ${cfg.tools.map((t) => `${TOOL_LABEL[t]} (${runsOf(t)})`).join(' | ')} | ${peers.map((t) => `weft ÷ ${TOOL_LABEL[t]}`).join(' | ')} |`,
        `|---|${cfg.tools.map(() => '---:').join('|')}|${peers.map(() => '---:').join('|')}|`,
      );
      for (const op of ['cold', 'add', 'remove', 'port', 'destroy'] as const) {
        out.push(`| ${OP_LABEL[op]} | ${cfg.tools.map((t) => cell(got(t, op))).join(' | ')} | ${peers.map((t) => ratio(got('weft', op), got(t, op))).join(' | ')} |`);
      }
      const progs = (t: Tool) => fmt(got(t, 'cold')?.probe?.execs);
      out.push(`| programs run, cold | ${cfg.tools.map(progs).join(' | ')} | ${peers.map(() => '').join(' | ')} |`);
      const rss = (t: Tool) => {
        const m = got(t, 'cold') && medians(got(t, 'cold')!);
        return fmt(m?.maxRssKb !== undefined ? m.maxRssKb / 1024 : undefined, 0);
      };
      out.push(`| peak RSS MB, cold | ${cfg.tools.map(rss).join(' | ')} | ${peers.map(() => '').join(' | ')} |`, '');
      out.push('The peers run per container: a no-op apply and watch mode have no counterpart there.', '');
    }
    const notes = results
      .all()
      .filter((r) => r.n === n)
      .flatMap((r) => r.notes.map((t) => `${TOOL_LABEL[r.tool]}, ${OP_LABEL[r.op]}: ${t}`))
      .concat(results.all().filter((r) => r.n === n && r.unavailable && r.tool !== 'weft' && !r.unavailable.startsWith('n/a')).map((r) => `${TOOL_LABEL[r.tool]}, ${OP_LABEL[r.op]}: ${r.unavailable}`));
    for (const f of results.failures.filter((x) => x.n === n)) {
      notes.push(`${TOOL_LABEL[f.tool]} FAILED in ${f.run < 0 ? 'the probe run' : `run ${f.run + 1}`} (later runs skipped): ${f.message.split('\n').slice(0, 3).join(' ').slice(0, 400)}`);
    }
    if (notes.length > 0) out.push(...[...new Set(notes)].map((t) => `- ${t}`), '');
  }
  if (targets.length > 0) {
    out.push('#### Targets', '', '| target | met | evidence |', '|---|---|---|');
    for (const t of targets) out.push(`| ${t.target} | ${t.met === null ? 'not measured' : t.met ? 'met' : 'missed'} | ${t.evidence} |`);
    out.push('');
  }
  return out.join('\n');
}

/** The issue's targets, judged from this run's medians. */
export function checkTargets(results: Results, cfg: BenchConfig): TargetCheck[] {
  const m = (tool: Tool, n: number, op: Op) => {
    const r = results.find(tool, n, op);
    return r ? medians(r) : undefined;
  };
  const checks: TargetCheck[] = [];
  const sizes = cfg.sizes;
  // The targets of the in-process kernel issue (12): 20x the peers with a published port per
  // container, 10x without (BENCH_PORTS=0).
  const times = PUBLISH ? 20 : 10;
  const ports = PUBLISH ? 'with a published port each' : 'without published ports';
  const cold = sizes.map((n) => ({ n, m: m('weft', n, 'cold') }));
  if (cold.some((c) => c.m)) {
    const per = cold.filter((c) => c.m).map((c) => ({ n: c.n, v: c.m!.wallMs / c.n }));
    checks.push({ target: 'cold apply ≤ 2.5 ms per container at every N', met: per.every((p) => p.v <= 2.5), evidence: per.map((p) => `N=${p.n}: ${p.v.toFixed(2)} ms`).join(', ') });
    for (const [peer, limit, label] of [
      ['netavark', 1 / times, `cold apply ≥ ${times}× faster than netavark (${ports})`],
      ['cni', 1 / times, `cold apply ≥ ${times}× faster than CNI bridge${PUBLISH ? '+portmap' : ''} (${ports})`],
      ['floor', 1, 'cold apply faster than the ip -batch floor'],
    ] as const) {
      if (!cfg.tools.includes(peer)) continue;
      const rs = sizes.map((n) => ({ n, w: m('weft', n, 'cold'), p: m(peer, n, 'cold') })).filter((x) => x.w && x.p);
      if (rs.length === 0) continue;
      checks.push({
        target: label,
        met: rs.every((x) => x.w!.wallMs / x.p!.wallMs <= limit),
        evidence: rs.map((x) => `N=${x.n}: ${peer} ÷ weft ${x.p!.timedOut ? '>' : '='} ${(x.p!.wallMs / x.w!.wallMs).toFixed(1)}×`).join(', '),
      });
    }
  }
  const noop = m('weft', 1000, 'noop');
  if (noop) {
    checks.push({
      target: 'no-op apply at N=1000 < 500 ms wall, 0 kernel writes, 0 child processes',
      met: noop.wallMs < 500 && noop.writes === 0 && noop.spawns === 0,
      evidence: `${noop.wallMs.toFixed(0)} ms, ${fmt(noop.writes)} writes, ${fmt(noop.spawns)} processes`,
    });
  }
  const destroy = m('weft', 1000, 'destroy');
  if (destroy) checks.push({ target: 'destroy of 1000 containers < 1 s', met: destroy.wallMs < 1000, evidence: `${destroy.wallMs.toFixed(0)} ms` });
  for (const op of ['add', 'remove'] as const) {
    const ws = sizes.map((n) => ({ n, w: m('weft', n, op)?.writes })).filter((x) => x.w !== undefined);
    if (ws.length >= 2) checks.push({ target: `${OP_LABEL[op]}: kernel writes do not grow with N`, met: ws.every((x) => x.w === ws[0]!.w), evidence: ws.map((x) => `N=${x.n}: ${x.w}`).join(', ') });
  }
  const watch = sizes.map((n) => ({ n, r: results.find('weft', n, 'watch') }));
  const measured = watch.filter((w) => w.r && medians(w.r));
  const label = 'watch: an edit adding a container converged in < 30 ms median, < 100 ms worst';
  if (measured.length > 0) {
    const figs = measured.map((w) => ({ n: w.n, med: medians(w.r!)!.wallMs, worst: Math.max(...w.r!.samples.map((s) => s.wallMs)) }));
    checks.push({ target: label, met: figs.every((f) => f.med < 30 && f.worst < 100), evidence: figs.map((f) => `N=${f.n}: median ${f.med.toFixed(0)} ms, worst ${f.worst.toFixed(0)} ms`).join(', ') });
  } else {
    checks.push({ target: label, met: null, evidence: watch.find((w) => w.r?.unavailable)?.r?.unavailable ?? 'not run' });
  }
  const coldRuns = sizes.map((n) => ({ n, r: results.find('weft', n, 'cold') }));
  const nft = coldRuns.map((p) => ({ n: p.n, s: p.r?.probe?.programs['nft -f'] })).filter((p) => p.s);
  checks.push({
    target: '1000 published ports in one nft transaction < 30 ms',
    met: nft.some((p) => p.n >= 1000) ? nft.filter((p) => p.n >= 1000).every((p) => p.s!.maxMs < 30) : null,
    evidence:
      nft.length > 0
        ? `${nft.map((p) => `N=${p.n}: ${p.s!.count} nft -f run(s), longest ${p.s!.maxMs.toFixed(1)} ms`).join(', ')} (lifetime of the nft process in the untimed probe run, under strace)`
        : 'the in-process kernel loads nftables through libnftables, no nft process to time: see `npm run bench:firewall`, table "in-process"',
  });
  const portWrites = sizes.map((n) => ({ n, w: m('weft', n, 'port')?.writes })).filter((x) => x.w !== undefined);
  if (portWrites.length > 0) {
    checks.push({
      target: 'changing one port is one element (delete + add), same at every N',
      met: portWrites.every((x) => x.w! <= 2 && x.w === portWrites[0]!.w),
      evidence:
        portWrites.map((x) => `N=${x.n}: ${x.w} kernel writes`).join(', ') +
        (portWrites.every((x) => x.w === 4)
            ? '; weft keeps a mapping as one element in each of two maps (pub_addr, pub_port: nft 1.0.6 cannot load a map with concatenated data from JSON), so a change is a delete and an add in each'
            : ''),
    });
  }
  const rss = m('weft', 1000, 'cold');
  if (rss?.maxRssKb !== undefined) {
    const worst = Math.max(...(['cold', 'noop', 'add', 'remove', 'port', 'watch', 'destroy'] as const).map((op) => m('weft', 1000, op)?.maxRssKb ?? 0));
    checks.push({ target: 'peak RSS < 150 MB at 1000 containers', met: worst < 150 * 1024, evidence: `largest median peak over all operations: ${(worst / 1024).toFixed(0)} MB` });
  }
  return checks;
}

export function idleMedian(results: Results): number {
  const xs = results.all().flatMap((r) => r.samples.map((s) => s.idleBefore));
  return xs.length > 0 ? median(xs) : Number.NaN;
}
