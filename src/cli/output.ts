import type { Provider } from '../providers/index.js';
import type { Plan, ReconcileResult } from '../reconcile/index.js';
import { describeChange } from '../reconcile/index.js';
import type { AnyEntry } from '../state/types.js';

export function printLines(lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

export function summary(r: ReconcileResult, dryRun: boolean): string {
  const n = r.plan.changes.length;
  const ms = Math.round(r.durationMs);
  const cost = `${r.stats.processes} processes, ${r.stats.writes} kernel writes`;
  const orphans = r.plan.orphans.length > 0 ? `; ${new Set(r.plan.orphans.map((o) => `${o.observed?.owner.kind}/${o.observed?.owner.name}`)).size} orphaned owners kept (use --prune)` : '';
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
