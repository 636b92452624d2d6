import type { Provider } from '../providers/index.js';
import type { AnyEntry } from '../state/types.js';
import type { Plan, PlannedChange } from './plan.js';

const sign = { create: '+', delete: '-', update: '~' } as const;

function ownerText(e: AnyEntry): string {
  return `${e.owner.kind} ${e.owner.name}`;
}

/** One plan line: "+ bridge br-1a2b3c4d5e6f network isolated_nw". */
export function describeChange(c: PlannedChange, providers: readonly Provider[]): string {
  const p = providers.find((x) => x.domain === c.domain);
  const e = (c.desired ?? c.observed) as AnyEntry;
  const d = p ? p.describe(e as never) : { noun: c.domain, name: c.id };
  let line = `${sign[c.action]} ${d.noun} ${d.name} ${ownerText(e)}`;
  if (c.action === 'update') {
    const o = c.observed as unknown as Record<string, unknown>;
    const n = c.desired as unknown as Record<string, unknown>;
    const shown = c.fields.filter((f) => f !== 'content').map((f) => `${f}: ${fmt(o[f])} -> ${fmt(n[f])}`);
    if (c.fields.includes('content')) shown.push('content');
    line += ` (${shown.join(', ')})`;
  }
  return line;
}

export function describeOrphan(c: PlannedChange, providers: readonly Provider[]): string {
  const p = providers.find((x) => x.domain === c.domain);
  const e = c.observed as AnyEntry;
  const d = p ? p.describe(e as never) : { noun: c.domain, name: c.id };
  return `! orphan ${d.noun} ${d.name} ${ownerText(e)}: no longer in the manifests; remove with --prune`;
}

function fmt(v: unknown): string {
  return v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v);
}

/** Plan lines: the changes, then orphans (only one line per orphaned owner's top object). */
export function planLines(plan: Plan, providers: readonly Provider[]): string[] {
  const lines = plan.changes.map((c) => describeChange(c, providers));
  const seen = new Set<string>();
  // One line per orphaned owner, naming its top object (namespace or bridge): orphans are sorted
  // bottom-up, so walk them backwards.
  for (const o of [...plan.orphans].reverse()) {
    const key = `${o.observed?.owner.kind}/${o.observed?.owner.name}`;
    if (seen.has(key) || o.implied) continue;
    seen.add(key);
    lines.push(describeOrphan(o, providers));
  }
  return lines;
}
