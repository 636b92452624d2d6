import type { Provider } from '../providers/index.js';
import path from 'node:path';
import { exprText } from '../nft/expr.js';
import type { AddressEntry, AnyEntry, FileEntry, LinkEntry, NftEntry, RouteEntry, SysctlEntry } from '../state/types.js';
import { HOST } from '../state/types.js';
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

// ---------------------------------------------------------------------------------------------
// The default view: one line per declared object (host, network, container) that changes.

export type OwnerSign = '+' | '-' | '~';

/** One declared object that changes, and what in it changes. */
export interface OwnerChange {
  sign: OwnerSign;
  kind: AnyEntry['owner']['kind'];
  name: string;
  /** What changes in it ("+port 8080/tcp", "~address on frontend"); for an added object, what it has. */
  items: string[];
  /** Kernel objects behind this line. */
  objects: number;
}

export interface PlanSummary {
  owners: OwnerChange[];
  add: number;
  change: number;
  remove: number;
  /** Kernel objects the plan touches (what --detail lists). */
  objects: number;
  /** Orphaned owners kept because --prune was not given ("container old"). */
  orphans: string[];
}

/** What the summary needs of the compiled topology: which network an interface belongs to. */
export interface DescribeTopology {
  containers: ReadonlyMap<string, { ns?: string; endpoints: readonly { network: string; ifname: string; hostIfname: string }[] }>;
}

const MAX_ITEMS = 6;
const kindOrder = { host: 0, network: 1, container: 2 } as const;

/**
 * Groups a plan by declared object: a line per host, network or container with changes, the
 * counts for the summary line. Objects that belong to no declared object (host sysctls, the
 * firewall's frame) are owned by the host. Pure.
 */
export function summarizePlan(plan: Plan, topology?: DescribeTopology): PlanSummary {
  const groups = new Map<string, { kind: OwnerChange['kind']; name: string; changes: PlannedChange[] }>();
  for (const c of plan.changes) {
    const e = (c.desired ?? c.observed) as AnyEntry;
    const key = `${e.owner.kind}/${e.owner.name}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { kind: e.owner.kind, name: e.owner.name, changes: [] }));
    g.changes.push(c);
  }
  const owners: OwnerChange[] = [];
  for (const [key, g] of groups) {
    const sign: OwnerSign = !plan.owners.before.has(key) ? '+' : !plan.owners.after.has(key) ? '-' : '~';
    const aspects = aspectsOf(g.changes, topology);
    let items: string[];
    if (sign === '-') items = [];
    else if (sign === '+') items = [...aspects.entries()].filter(([a]) => HEADLINE.test(a)).map(([a]) => a);
    else items = [...aspects.entries()].map(([a, actions]) => `${actions.size === 1 && actions.has('create') ? '+' : actions.size === 1 && actions.has('delete') ? '-' : '~'}${a}`);
    if (items.length > MAX_ITEMS) items = [...items.slice(0, MAX_ITEMS), `and ${items.length - MAX_ITEMS} more`];
    owners.push({ sign, kind: g.kind, name: g.name, items, objects: g.changes.length });
  }
  owners.sort((a, b) => kindOrder[a.kind] - kindOrder[b.kind] || a.name.localeCompare(b.name));
  const orphans = new Set<string>();
  for (const o of plan.orphans) if (o.observed) orphans.add(`${o.observed.owner.kind} ${o.observed.owner.name}`);
  return {
    owners,
    add: owners.filter((o) => o.sign === '+').length,
    change: owners.filter((o) => o.sign === '~').length,
    remove: owners.filter((o) => o.sign === '-').length,
    objects: plan.changes.length,
    orphans: [...orphans].sort(),
  };
}

/** What an added object is worth naming on its line. */
const HEADLINE = /^(network|port|bridge|vxlan|vlan|gateway|firewall$)/;

/** The lines of the default view, without colour: owners, orphans, then the summary line. */
export function summaryLines(s: PlanSummary, verb: 'plan' | 'applied'): string[] {
  const lines = s.owners.map((o) => `${o.sign} ${o.kind} ${o.name}${o.items.length > 0 ? `: ${o.items.join(', ')}` : ''}`);
  for (const o of s.orphans) lines.push(`! ${o}: no longer in the manifests; kept (remove it with --prune)`);
  if (s.owners.length === 0) return lines;
  const objects = `(${s.objects} kernel object${s.objects === 1 ? '' : 's'})`;
  lines.push(
    verb === 'plan'
      ? `Plan: ${s.add} to add, ${s.change} to change, ${s.remove} to remove ${objects}`
      : `Applied: ${s.add} added, ${s.change} changed, ${s.remove} removed ${objects}`,
  );
  return lines;
}

/** Aspect ("address on frontend") -> the actions on the kernel objects behind it, in plan order. */
function aspectsOf(changes: readonly PlannedChange[], topology: DescribeTopology | undefined): Map<string, Set<PlannedChange['action']>> {
  const out = new Map<string, Set<PlannedChange['action']>>();
  const look = lookupFor(changes, topology);
  for (const c of changes) {
    const a = aspect(c, look);
    let s = out.get(a);
    if (!s) out.set(a, (s = new Set()));
    s.add(c.action);
  }
  return out;
}

interface Lookup {
  topology: DescribeTopology | undefined;
  /** "ns/container-side name" -> network, from the veths the plan deletes (observed) and creates (desired). */
  peers: { observed: Map<string, string>; desired: Map<string, string> };
}

/** The network of a host-side veth: endpoints are found by their (hashed, stable) host name. */
function networkOfHostIf(owner: string, hostIfname: string, topology: DescribeTopology | undefined): string | undefined {
  return topology?.containers.get(owner)?.endpoints.find((ep) => ep.hostIfname === hostIfname)?.network;
}

function lookupFor(changes: readonly PlannedChange[], topology: DescribeTopology | undefined): Lookup {
  const peers = { observed: new Map<string, string>(), desired: new Map<string, string>() };
  for (const c of changes) {
    for (const [side, e] of [['observed', c.observed], ['desired', c.desired]] as const) {
      const l = e as LinkEntry | undefined;
      if (c.domain !== 'links' || l?.kind !== 'veth') continue;
      const net = networkOfHostIf(l.owner.name, l.name, topology);
      if (net !== undefined) peers[side].set(`${l.peer.ns}/${l.peer.name}`, net);
    }
  }
  return { topology, peers };
}

/**
 * The network a container's interface is on. A deleted container-side object is looked up
 * through the veth deleted with it (its name may now belong to another network's endpoint).
 */
function networkOf(c: PlannedChange, e: AnyEntry & { ns?: string }, dev: string, look: Lookup): string | undefined {
  if (e.owner.kind !== 'container') return undefined;
  if (e.ns === HOST) return networkOfHostIf(e.owner.name, dev, look.topology);
  const key = `${e.ns}/${dev}`;
  const viaVeth = (c.action === 'delete' ? look.peers.observed : look.peers.desired).get(key);
  return viaVeth ?? look.topology?.containers.get(e.owner.name)?.endpoints.find((ep) => ep.ifname === dev)?.network;
}

/** The part of a declared object a kernel object implements, in the user's words. */
function aspect(c: PlannedChange, look: Lookup): string {
  const e = (c.desired ?? c.observed) as AnyEntry;
  const on = (dev: string) => {
    const net = networkOf(c, e, dev, look);
    return net !== undefined ? `on ${net}` : `on ${dev}`;
  };
  switch (c.domain) {
    case 'netns':
      return 'namespace';
    case 'links': {
      const l = e as LinkEntry;
      if (l.kind === 'loopback') return 'loopback';
      if (l.kind === 'veth' || l.kind === 'veth-peer' || l.kind === 'macvlan') {
        if (c.action === 'update' && c.fields.length === 1 && c.fields[0] === 'hairpin') return 'hairpin';
        const net = networkOf(c, e, l.name, look);
        // An interface changed in place names what changed (mac, mtu); a new or removed one, its network.
        if (c.action === 'update') return `${c.fields.join('/')} ${net !== undefined ? `on ${net}` : `of ${l.name}`}`;
        return net !== undefined ? `network ${net}` : `interface ${l.name}`;
      }
      return `${l.kind} ${l.name}`;
    }
    case 'addresses': {
      const a = e as AddressEntry;
      return e.owner.kind === 'network' ? `gateway ${a.cidr}` : `address ${on(a.dev)}`;
    }
    case 'routes': {
      const r = e as RouteEntry;
      return r.dst === 'default' ? `default route${r.family === 6 ? ' (IPv6)' : ''}` : `route ${r.dst}`;
    }
    case 'sysctls':
      return `sysctl ${e.owner.kind === 'host' ? (e as SysctlEntry).path.replace(/\//g, '.') : path.basename((e as SysctlEntry).path)}`;
    case 'files':
      return `file ${path.basename((e as FileEntry).path)}`;
    case 'fdb':
    case 'neigh':
      return 'overlay peer entries';
    case 'nftables': {
      const n = e as NftEntry;
      if (n.kind === 'element' && (n.set === 'pub_addr' || n.set === 'pub_port')) {
        const parts = typeof n.key === 'object' && 'concat' in n.key ? n.key.concat : [];
        return `port ${exprText(parts[2] ?? '?')}/${exprText(parts[1] ?? '?')}`;
      }
      if (n.kind === 'element' && n.set === 'self_hairpin') return 'hairpin';
      if (n.ns !== HOST) return 'DNS redirect';
      return e.owner.kind === 'host' ? 'firewall' : 'firewall rules';
    }
  }
  return c.domain;
}
