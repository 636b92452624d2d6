import type { Topology } from '../compile/index.js';
import { formatCidr } from '../net/cidr.js';
// describe.js and plan.js directly: the daemon serves this picture, so no import of reconcile/index.
import { summarizePlan } from '../reconcile/describe.js';
import type { Plan, PlannedChange } from '../reconcile/plan.js';
import type { AnyEntry } from '../state/types.js';
import { HOST } from '../state/types.js';

/**
 * The topology picture (`weft graph`, the daemon's /topology.svg): hosts, networks, containers,
 * their addresses and published ports, from the compiled manifests, with drift from the plan
 * against the observed kernel. Pure: the model here, and two small text renderers (Graphviz dot,
 * Mermaid). SVG is Graphviz's job (see graphviz.ts).
 */

/** ok: as declared; differs: there but not as declared; missing: declared, not in the kernel. */
export type Drift = 'ok' | 'differs' | 'missing';

export interface GraphNode {
  id: string;
  kind: 'network' | 'container';
  name: string;
  /** Extra label lines: driver, subnet, ports, what drifted. */
  lines: string[];
  drift: Drift;
  /** The host cluster it is drawn in; undefined for networks that span hosts (overlay). */
  host?: string;
}

export interface GraphHost {
  name: string;
  lines: string[];
  drift: Drift;
}

export interface GraphEdge {
  from: string;
  to: string;
  label: string;
  drift: Drift;
}

export interface TopologyGraph {
  hosts: GraphHost[];
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface GraphSources {
  topology: Topology;
  plan: Plan;
  /** Declared Hosts (multi-host manifests); none: one host, this one. */
  hosts: readonly { name: string; address: string }[];
}

const SPANNING = new Set(['overlay']);
const HIDDEN = new Set(['host', 'none']);

function entryOf(c: PlannedChange): AnyEntry & { ns?: string; name?: string; dev?: string } {
  return (c.desired ?? c.observed) as AnyEntry & { ns?: string; name?: string; dev?: string };
}

/** missing when the owner had nothing in the kernel, differs when it has changes, ok otherwise. */
function driftOf(changes: readonly PlannedChange[], existed: boolean): Drift {
  if (changes.length === 0) return 'ok';
  return existed ? 'differs' : 'missing';
}

/** Builds the picture's model. Pure. */
export function buildGraph(src: GraphSources): TopologyGraph {
  const { topology, plan } = src;
  const byOwner = new Map<string, PlannedChange[]>();
  for (const c of plan.changes) {
    const e = entryOf(c);
    const key = `${e.owner.kind}/${e.owner.name}`;
    byOwner.set(key, [...(byOwner.get(key) ?? []), c]);
  }
  const why = new Map(summarizePlan(plan, topology).owners.map((o) => [`${o.kind}/${o.name}`, o]));
  const driftLines = (key: string): string[] => {
    const o = why.get(key);
    if (!o) return [];
    if (o.sign === '+') return ['missing from the kernel'];
    return o.items.length > 0 ? [`drift: ${o.items.slice(0, 3).join(', ')}${o.items.length > 3 ? ', ...' : ''}`] : [];
  };
  const ownerDrift = (key: string) => driftOf(byOwner.get(key) ?? [], plan.owners.before.has(key));

  const localName = topology.node ?? (topology.hostNetns || 'local');
  const hostOwnerKey = `host/${topology.hostNetns || 'local'}`;
  const declared = src.hosts.length > 0 ? src.hosts : [{ name: localName, address: '' }];
  const hosts: GraphHost[] = declared.map((h) => {
    const local = h.name === localName;
    return {
      name: h.name,
      lines: [h.address, local ? 'this host' : 'remote', ...(local ? driftLines(hostOwnerKey) : [])].filter((l) => l !== ''),
      drift: local ? ownerDrift(hostOwnerKey) : 'ok',
    };
  });

  const used = new Set([...topology.containers.values()].flatMap((c) => c.endpoints.map((e) => e.network)));
  const nodes: GraphNode[] = [];
  for (const n of [...topology.networks.values()].sort((a, b) => a.network.name.localeCompare(b.network.name))) {
    const name = n.network.name;
    if (!n.materialize && !used.has(name)) continue;
    if (HIDDEN.has(name) && !used.has(name)) continue;
    const key = `network/${name}`;
    const subnets = [...n.pools.v4, ...n.pools.v6].map((p) => formatCidr(p.subnet));
    nodes.push({
      id: `net:${name}`,
      kind: 'network',
      name,
      lines: [`${n.network.driver}${n.ifname ? ` ${n.ifname}` : ''}${n.network.internal ? ', internal' : ''}`, ...subnets, ...driftLines(key)],
      drift: ownerDrift(key),
      ...(SPANNING.has(n.network.driver) ? {} : { host: localName }),
    });
  }

  const edges: GraphEdge[] = [];
  for (const c of [...topology.containers.values()].sort((a, b) => a.container.name.localeCompare(b.container.name))) {
    const name = c.container.name;
    const key = `container/${name}`;
    const changes = c.local ? (byOwner.get(key) ?? []) : [];
    const existed = plan.owners.before.has(key);
    nodes.push({
      id: `ctr:${name}`,
      kind: 'container',
      name,
      lines: [...c.container.ports.map((p) => `port ${p.text}`), ...(c.local ? driftLines(key) : [])],
      drift: c.local ? driftOf(changes, existed) : 'ok',
      host: c.local ? localName : (c.container.host ?? 'remote'),
    });
    for (const ep of c.endpoints) {
      // The endpoint's own objects: its veth on the host, its interface, addresses and routes inside.
      const mine = changes.filter((ch) => {
        const e = entryOf(ch);
        const dev = e.dev ?? e.name;
        return (e.ns === HOST && dev === ep.hostIfname) || (e.ns !== undefined && e.ns !== HOST && e.ns === c.ns && dev === ep.ifname);
      });
      const missing = mine.some((ch) => ch.action === 'create' && ch.domain === 'links');
      const addr = [ep.ipv4 ? `${ep.ipv4.address}/${ep.ipv4.prefix}` : '', ep.ipv6 ? `${ep.ipv6.address}/${ep.ipv6.prefix}` : ''].filter(Boolean).join(' ');
      edges.push({
        from: `ctr:${name}`,
        to: `net:${ep.network}`,
        label: `${ep.ifname}${addr ? ` ${addr}` : ''}`,
        drift: mine.length === 0 ? 'ok' : missing ? 'missing' : 'differs',
      });
    }
  }
  // An endpoint on a network the picture does not show (host, none) has no edge to draw.
  const ids = new Set(nodes.map((n) => n.id));
  return { hosts, nodes, edges: edges.filter((e) => ids.has(e.to)) };
}

export const DRIFT_COLOUR: Record<Drift, string> = { ok: '#334155', differs: '#d97706', missing: '#dc2626' };

function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function dotLabel(title: string, lines: readonly string[]): string {
  return dotString([title, ...lines].join('\n'));
}

/** Graphviz dot text. Pure. */
export function renderDot(g: TopologyGraph): string {
  const out: string[] = [
    'graph weft {',
    '  graph [rankdir=LR, fontname="Helvetica", fontsize=11, labelloc=t, label="weft topology   (orange: differs from the manifests, red: missing)"];',
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  const node = (n: GraphNode, indent: string) => {
    const shape = n.kind === 'network' ? 'shape=box, style="rounded,filled", fillcolor="#e0f2fe"' : 'shape=box, style=filled, fillcolor="#f8fafc"';
    const width = n.drift === 'ok' ? '' : ', penwidth=2.5';
    out.push(`${indent}${dotString(n.id)} [label=${dotLabel(`${n.kind === 'network' ? 'network' : 'container'} ${n.name}`, n.lines)}, ${shape}, color=${dotString(DRIFT_COLOUR[n.drift])}, fontcolor=${dotString(DRIFT_COLOUR[n.drift])}${width}];`);
  };
  g.hosts.forEach((h, i) => {
    out.push(`  subgraph ${dotString(`cluster_${i}`)} {`);
    out.push(`    label=${dotLabel(`host ${h.name}`, h.lines)}; style="rounded,dashed"; color=${dotString(DRIFT_COLOUR[h.drift])}; fontcolor=${dotString(DRIFT_COLOUR[h.drift])};${h.drift === 'ok' ? '' : ' penwidth=2.5;'}`);
    for (const n of g.nodes) if (n.host === h.name) node(n, '    ');
    out.push('  }');
  });
  const inHost = new Set(g.hosts.map((h) => h.name));
  for (const n of g.nodes) if (n.host === undefined || !inHost.has(n.host)) node(n, '  ');
  for (const e of g.edges) {
    const style = e.drift === 'ok' ? '' : `, penwidth=2.5${e.drift === 'missing' ? ', style=dashed' : ''}`;
    out.push(`  ${dotString(e.from)} -- ${dotString(e.to)} [label=${dotString(e.label)}, color=${dotString(DRIFT_COLOUR[e.drift])}, fontcolor=${dotString(DRIFT_COLOUR[e.drift])}${style}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

function mermaidLabel(title: string, lines: readonly string[]): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '#quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `"${[title, ...lines].map(esc).join('<br/>')}"`;
}

/** Mermaid flowchart text (renders on GitHub and in most Markdown viewers). Pure. */
export function renderMermaid(g: TopologyGraph): string {
  const ids = new Map(g.nodes.map((n, i) => [n.id, `${n.kind === 'network' ? 'net' : 'ctr'}${i}`]));
  const out: string[] = ['flowchart LR'];
  const node = (n: GraphNode, indent: string) => {
    const label = mermaidLabel(`${n.kind} ${n.name}`, n.lines);
    out.push(`${indent}${ids.get(n.id)}${n.kind === 'network' ? `([${label}])` : `[${label}]`}`);
  };
  g.hosts.forEach((h, i) => {
    out.push(`  subgraph host${i}[${mermaidLabel(`host ${h.name}`, h.lines)}]`);
    for (const n of g.nodes) if (n.host === h.name) node(n, '    ');
    out.push('  end');
  });
  const inHost = new Set(g.hosts.map((h) => h.name));
  for (const n of g.nodes) if (n.host === undefined || !inHost.has(n.host)) node(n, '  ');
  g.edges.forEach((e) => out.push(`  ${ids.get(e.from)} ---|${mermaidLabel(e.label, [])}| ${ids.get(e.to)}`));
  out.push(`  classDef differs stroke:${DRIFT_COLOUR.differs},stroke-width:3px,color:${DRIFT_COLOUR.differs}`);
  out.push(`  classDef missing stroke:${DRIFT_COLOUR.missing},stroke-width:3px,stroke-dasharray:4,color:${DRIFT_COLOUR.missing}`);
  for (const d of ['differs', 'missing'] as const) {
    const of = g.nodes.filter((n) => n.drift === d).map((n) => ids.get(n.id)!);
    const hostsOf = g.hosts.flatMap((h, i) => (h.drift === d ? [`host${i}`] : []));
    if (of.length + hostsOf.length > 0) out.push(`  class ${[...of, ...hostsOf].join(',')} ${d}`);
  }
  g.edges.forEach((e, i) => {
    if (e.drift !== 'ok') out.push(`  linkStyle ${i} stroke:${DRIFT_COLOUR[e.drift]},stroke-width:3px`);
  });
  return `${out.join('\n')}\n`;
}
