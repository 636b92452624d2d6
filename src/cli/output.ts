import type { Provider } from '../providers/index.js';
import { providers } from '../providers/index.js';
import type { Plan, ReconcileResult } from '../reconcile/index.js';
import { describeChange, planLines, summarizePlan, summaryLines } from '../reconcile/index.js';
import type { AnyEntry } from '../state/types.js';
import type { PluginFailure } from '../plugins/index.js';
import { pluginPlanLines } from '../plugins/index.js';
import { formatPos } from '../errors.js';

export function printLines(lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

/** Colour on a terminal only, and never when NO_COLOR is set (https://no-color.org). */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env['NO_COLOR'] ?? '') === '' && env['TERM'] !== 'dumb';
}

const SIGN_COLOUR: Record<string, string> = { '+': '32', '-': '31', '~': '33', '!': '35' };

/** Colours a plan line's leading sign (+ green, - red, ~ yellow, ! magenta). */
export function colourLine(line: string): string {
  const code = SIGN_COLOUR[line[0] ?? ''];
  return code !== undefined && line[1] === ' ' ? `\x1b[${code}m${line[0]}\x1b[0m${line.slice(1)}` : line;
}

/**
 * What plan, apply and destroy print on stdout: by default one line per declared object that
 * changes and a summary line; with `detail`, one line per kernel object. Nothing for a converged system.
 */
export function resultLines(r: Pick<ReconcileResult, 'plan' | 'topology'> & Partial<Pick<ReconcileResult, 'plugins'>>, opts: { detail: boolean; verb: 'plan' | 'applied' }): string[] {
  const kernel = opts.detail ? planLines(r.plan, providers) : summaryLines(summarizePlan(r.plan, r.topology), opts.verb);
  return r.plugins ? [...kernel, ...pluginPlanLines(r.plugins)] : kernel;
}

/**
 * A plugin's failure, one line for stderr: the network's manifest position when it is declared,
 * what failed and what to do.
 */
export function pluginFailureLine(f: PluginFailure): string {
  const where = f.pos ? `${formatPos(f.pos)}: ` : '';
  const ctr = f.container !== undefined ? ` (container "${f.container}")` : '';
  return `${where}network "${f.network}"${ctr}: ${f.kind} plugin: ${f.message.replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, ' ')}; fix the plugin or its configuration, then apply again`;
}

/** Prints the plugin phase's failures on stderr; returns whether there were any (exit 1). */
export function printPluginFailures(r: Pick<ReconcileResult, 'plugins'>): boolean {
  for (const f of r.plugins.failures) console.error(pluginFailureLine(f));
  return r.plugins.failures.length > 0;
}

export function printResult(r: Pick<ReconcileResult, 'plan' | 'topology'> & Partial<Pick<ReconcileResult, 'plugins'>>, opts: { detail: boolean; verb: 'plan' | 'applied' }): void {
  const colour = useColour(process.stdout);
  printLines(resultLines(r, opts).map((l) => (colour ? colourLine(l) : l)));
}

export function summary(r: ReconcileResult, dryRun: boolean): string {
  const n = r.plan.changes.length + r.plugins.changes.length;
  const ms = Math.round(r.durationMs);
  const cost = `${r.stats.processes} processes, ${r.stats.writes} kernel writes`;
  const kept = r.plan.orphans.length > 0 ? `; ${new Set(r.plan.orphans.map((o) => `${o.observed?.owner.kind}/${o.observed?.owner.name}`)).size} orphaned owners kept (use --prune)` : '';
  const failed = r.plugins.failures.length;
  const orphans = `${kept}${failed > 0 ? `; ${failed} plugin failure${failed === 1 ? '' : 's'} (below)` : ''}`;
  if (n === 0) return `weft: converged, nothing to change (${ms} ms, ${cost})${orphans}`;
  if (dryRun) return `weft: ${n} change${n === 1 ? '' : 's'} planned, nothing written (${ms} ms)${orphans}`;
  return `weft: ${n} change${n === 1 ? '' : 's'} applied and verified in ${ms} ms (${cost})${orphans}`;
}

/** `plan --json`: stable, machine-readable. */
export function planJson(plan: Plan, providers: readonly Provider[]) {
  const one = (c: Plan['changes'][number]) => {
    const e = (c.desired ?? c.observed) as AnyEntry;
    const p = providers.find((x) => x.domain === c.domain);
    const d = p ? p.describe(e as never) : { noun: c.domain, name: c.id };
    return {
      action: c.action,
      domain: c.domain,
      id: c.id,
      object: d.noun,
      name: d.name,
      owner: e.owner,
      fields: c.fields,
      implied: c.implied,
      line: describeChange(c, providers),
      ...(c.observed ? { observed: c.observed } : {}),
      ...(c.desired ? { desired: c.desired } : {}),
    };
  };
  return { changes: plan.changes.map(one), orphans: plan.orphans.map(one) };
}
