/**
 * Kernel state cut by namespace: every entry lives in exactly one namespace (a link, address or
 * rule its `ns`; a namespace itself its name; a file the namespace its /etc/netns folder is for).
 * The daemon's drift path reads, diffs and writes only the namespaces that kernel events name,
 * against these slices of the state it last converged to.
 */
import type { AnyEntry, Domain, KernelState, NsKey } from './types.js';
import { emptyState } from './types.js';

/** The namespace an entry belongs to. */
export function nsOfEntry(domain: Domain, e: AnyEntry): NsKey {
  if (domain === 'netns') return (e as { name: string }).name;
  // /etc/netns/<namespace>/<file>
  if (domain === 'files') return (e as { path: string }).path.split('/')[3] ?? '';
  return (e as { ns: NsKey }).ns;
}

/** A state split into one state per namespace (only namespaces with entries appear). */
export function splitByNamespace(state: KernelState): Map<NsKey, KernelState> {
  const out = new Map<NsKey, KernelState>();
  for (const [domain, entries] of Object.entries(state) as [Domain, Record<string, AnyEntry>][]) {
    for (const [id, e] of Object.entries(entries)) {
      const ns = nsOfEntry(domain, e);
      let slice = out.get(ns);
      if (!slice) out.set(ns, (slice = emptyState()));
      (slice[domain] as Record<string, AnyEntry>)[id] = e;
    }
  }
  return out;
}

/** The entries of these namespaces, from a state split by splitByNamespace. */
export function joinSlices(split: ReadonlyMap<NsKey, KernelState>, scope: Iterable<NsKey>): KernelState {
  const out = emptyState();
  for (const ns of scope) {
    const slice = split.get(ns);
    if (!slice) continue;
    for (const [domain, entries] of Object.entries(slice) as [Domain, Record<string, AnyEntry>][]) Object.assign(out[domain], entries);
  }
  return out;
}

/** Only the entries of these namespaces. */
export function filterToScope(state: KernelState, scope: ReadonlySet<NsKey>): KernelState {
  const out = emptyState();
  for (const [domain, entries] of Object.entries(state) as [Domain, Record<string, AnyEntry>][]) {
    const kept = out[domain] as Record<string, AnyEntry>;
    for (const [id, e] of Object.entries(entries)) if (scope.has(nsOfEntry(domain, e))) kept[id] = e;
  }
  return out;
}
