import fastJsonPatch from 'fast-json-patch';
import type { Change, Provider } from '../providers/index.js';
import type { AnyEntry, Domain, KernelState, LinkEntry, NftEntry } from '../state/types.js';
import { HOST, ids, ownerKey } from '../state/types.js';

export interface PlannedChange extends Change {
  /** Removed by a parent's deletion (its namespace, link or nftables table): shown, but no command of its own. */
  implied: boolean;
}

export interface Plan {
  /** What apply will do, in order: deletes bottom-up, then creates and updates top-down. */
  changes: PlannedChange[];
  /** Objects whose owner left the manifests, kept because --prune was not given. */
  orphans: PlannedChange[];
  /** Owner keys ("container/c1") with objects in the kernel before, and in the desired state: tell added and removed owners apart. */
  owners: { before: ReadonlySet<string>; after: ReadonlySet<string> };
}

export interface PlanOptions {
  prune: boolean;
  /** Owner keys ("container/c1", "network/n1") that the manifests still declare. */
  desiredOwners: ReadonlySet<string>;
}

function decode(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * Diffs observed against desired state with fast-json-patch and turns the patch into per-object
 * changes. Pure: the same inputs always give the same plan.
 */
export function planChanges(observed: KernelState, desired: KernelState, providers: readonly Provider[], opts: PlanOptions): Plan {
  const ops = fastJsonPatch.compare(observed, desired);
  const groups = new Map<string, { domain: Domain; id: string; whole?: 'add' | 'remove' | 'replace'; fields: Set<string> }>();
  for (const op of ops) {
    const [, domainSeg, idSeg, field] = op.path.split('/');
    if (domainSeg === undefined || idSeg === undefined) continue;
    const domain = decode(domainSeg) as Domain;
    const id = decode(idSeg);
    const key = `${domain}\u0000${id}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { domain, id, fields: new Set() }));
    if (field === undefined) g.whole = op.op as 'add' | 'remove' | 'replace';
    else g.fields.add(decode(field));
  }
  const rank = new Map(providers.map((p) => [p.domain, p]));
  const changes: PlannedChange[] = [];
  for (const g of groups.values()) {
    const provider = rank.get(g.domain);
    if (!provider) continue;
    const observedEntry = (observed[g.domain] as Record<string, AnyEntry>)[g.id];
    const desiredEntry = (desired[g.domain] as Record<string, AnyEntry>)[g.id];
    const base = { domain: g.domain, id: g.id, orphan: false, implied: false };
    if (!observedEntry && desiredEntry) changes.push({ ...base, action: 'create', desired: desiredEntry, fields: [] });
    else if (observedEntry && !desiredEntry) {
      const orphan = !opts.desiredOwners.has(ownerKey(observedEntry.owner));
      changes.push({ ...base, action: 'delete', observed: observedEntry, fields: [], orphan });
    } else if (observedEntry && desiredEntry) {
      const fields = g.whole ? Object.keys(desiredEntry) : [...g.fields];
      if (fields.some((f) => provider.recreateOn.includes(f))) {
        changes.push({ ...base, action: 'delete', observed: observedEntry, fields });
        changes.push({ ...base, action: 'create', desired: desiredEntry, fields });
      } else changes.push({ ...base, action: 'update', observed: observedEntry, desired: desiredEntry, fields: fields.sort() });
    }
  }
  cascadeFreshLinks(changes, desired);
  markImplied(changes, opts.prune);
  const sorted = sortChanges(changes, rank);
  let owners: Plan['owners'] | undefined;
  return {
    changes: sorted.filter((c) => opts.prune || !c.orphan),
    orphans: sorted.filter((c) => c.orphan && !opts.prune),
    // Sysctls are read whether or not weft set them (ip_forward is always there): they do not make
    // an owner exist. Counted when asked (plan output), not by the daemon's drift passes.
    get owners() {
      return (owners ??= { before: ownersOf(observed, ['sysctls']), after: ownersOf(desired, []) });
    },
  };
}

/**
 * A link this plan creates (new, or deleted and created again) starts bare: its addresses, routes,
 * per-interface settings, neighbour and forwarding entries and, for a veth, its container end must
 * be created as well, even where the old link had equal ones.
 */
function cascadeFreshLinks(changes: PlannedChange[], desired: KernelState): void {
  const fresh = new Set<string>();
  for (const c of changes) {
    if (c.domain !== 'links' || c.action !== 'create') continue;
    fresh.add(c.id);
    const link = c.desired as LinkEntry;
    if (link.kind === 'veth') fresh.add(ids.link(link.peer.ns, link.peer.name));
  }
  if (fresh.size === 0) return;
  const created = new Set(changes.filter((c) => c.action === 'create').map((c) => `${c.domain}/${c.id}`));
  for (const domain of ['links', 'addresses', 'routes', 'sysctls', 'neigh', 'fdb'] as const) {
    for (const [id, e] of Object.entries(desired[domain] as Record<string, AnyEntry & { ns: string; dev?: string }>)) {
      const onFresh = (domain === 'links' && fresh.has(id)) || (e.dev !== undefined && fresh.has(ids.link(e.ns, e.dev)));
      if (!onFresh || created.has(`${domain}/${id}`)) continue;
      const i = changes.findIndex((x) => x.domain === domain && x.id === id && x.action === 'update');
      if (i >= 0) changes.splice(i, 1);
      changes.push({ action: 'create', domain, id, desired: e, fields: [], orphan: false, implied: false });
      created.add(`${domain}/${id}`);
    }
  }
}

/** Children of a deleted namespace or link go with it; deleting them again would fail. */
function markImplied(changes: PlannedChange[], prune: boolean): void {
  const deletes = changes.filter((c) => c.action === 'delete');
  const goneNetns = new Set(deletes.filter((c) => c.domain === 'netns').map((c) => c.id));
  const goneLinks = new Set(deletes.filter((c) => c.domain === 'links').map((c) => c.id));
  // The container end of a deleted host veth disappears with it.
  const goneWithVeth = new Set<string>();
  for (const c of deletes) {
    const link = c.observed as LinkEntry;
    if (c.domain === 'links' && link.kind === 'veth') goneWithVeth.add(ids.link(link.peer.ns, link.peer.name));
  }
  // Everything in a deleted nftables table goes with it. A table kept as an orphan (no --prune)
  // keeps its other orphans with it; objects of live owners in it are still deleted one by one.
  const tables = deletes.filter((c) => c.domain === 'nftables' && (c.observed as NftEntry).kind === 'table');
  const goneTables = new Set(tables.filter((c) => prune || !c.orphan).map((c) => c.id));
  const keptTables = new Set(tables.filter((c) => !prune && c.orphan).map((c) => c.id));
  for (const c of deletes) {
    const e = c.observed as AnyEntry & { ns?: string; dev?: string };
    if (c.domain === 'netns' || e.ns === undefined) continue;
    const link = c.domain === 'links' ? (c.observed as LinkEntry) : undefined;
    c.implied =
      (e.ns !== HOST && goneNetns.has(e.ns)) ||
      (link?.kind === 'veth' && goneNetns.has(link.peer.ns)) ||
      (link !== undefined && goneWithVeth.has(c.id)) ||
      (e.dev !== undefined && (goneLinks.has(ids.link(e.ns, e.dev)) || goneWithVeth.has(ids.link(e.ns, e.dev)))) ||
      (c.domain === 'nftables' && (inTable(c.observed as NftEntry, goneTables) || (c.orphan && inTable(c.observed as NftEntry, keptTables))));
  }
}

function inTable(e: NftEntry, tables: ReadonlySet<string>): boolean {
  return e.kind !== 'table' && tables.has(ids.nftTable(e.ns, e.family, e.table));
}

function sortChanges(changes: PlannedChange[], providers: Map<Domain, Provider>): PlannedChange[] {
  const r = (c: PlannedChange) => providers.get(c.domain)?.rank ?? 0;
  const key = (c: PlannedChange) => (c.action === 'delete' ? -100 - r(c) : r(c));
  return [...changes].sort((a, b) => key(a) - key(b) || a.id.localeCompare(b.id));
}

function ownersOf(state: KernelState, skip: readonly Domain[]): Set<string> {
  const out = new Set<string>();
  for (const [domain, entries] of Object.entries(state) as [Domain, Record<string, AnyEntry>][]) {
    if (skip.includes(domain)) continue;
    for (const e of Object.values(entries)) out.add(ownerKey(e.owner));
  }
  return out;
}
