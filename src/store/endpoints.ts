import type { PeerEndpoint, Topology } from '../compile/index.js';

/**
 * What a node publishes in the membership store: the endpoints of its own containers on global
 * (overlay) networks, with what peers need to program them (address, MAC, underlay address) and
 * to resolve them (aliases). Empty when the node has no Host address. Pure.
 */
export function localEndpoints(topology: Topology): PeerEndpoint[] {
  const node = topology.node;
  const nodeAddress = topology.nodeAddress;
  if (node === undefined || nodeAddress === undefined) return [];
  const out: PeerEndpoint[] = [];
  for (const ctr of topology.containers.values()) {
    if (!ctr.local || ctr.source !== 'manifest') continue;
    for (const ep of ctr.endpoints) {
      if (topology.networks.get(ep.network)?.driver.scope !== 'global') continue;
      const e: PeerEndpoint = { node, nodeAddress, container: ep.container, network: ep.network, mac: ep.mac, aliases: ep.aliases };
      if (ep.ipv4) e.ipv4 = `${ep.ipv4.address}/${ep.ipv4.prefix}`;
      if (ep.ipv6) e.ipv6 = `${ep.ipv6.address}/${ep.ipv6.prefix}`;
      out.push(e);
    }
  }
  return out.sort((a, b) => a.network.localeCompare(b.network) || a.container.localeCompare(b.container));
}

/** Stored values larger than this are not endpoints (an endpoint is a few hundred bytes). */
const MAX_VALUE = 16 * 1024;

/**
 * A stored value back into an endpoint; undefined when it is not one (garbage, another writer, an
 * old format): every field of the right type, nothing else checked (see trust.ts for that).
 */
export function parseEndpoint(text: string): PeerEndpoint | undefined {
  if (text.length > MAX_VALUE) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined);
  const node = str('node');
  const nodeAddress = str('nodeAddress');
  const container = str('container');
  const network = str('network');
  const mac = str('mac');
  if (!node || !nodeAddress || !container || !network || !mac) return undefined;
  const rawAliases = o['aliases'] ?? [];
  if (!Array.isArray(rawAliases) || !rawAliases.every((a): a is string => typeof a === 'string')) return undefined;
  const e: PeerEndpoint = { node, nodeAddress, container, network, mac, aliases: rawAliases };
  for (const k of ['ipv4', 'ipv6'] as const) {
    if (o[k] === undefined) continue;
    const text = str(k);
    if (text === undefined) return undefined;
    e[k] = text;
  }
  return e;
}

/** A change in the membership store: a key put or deleted, and whose endpoint it names (when it names one). */
export interface StoreChange {
  type: 'put' | 'delete';
  key: string;
  node?: string;
  network?: string;
  container?: string;
}

/** Whether two lists hold the same endpoints, in any order. Pure. */
export function sameEndpoints(a: readonly PeerEndpoint[], b: readonly PeerEndpoint[]): boolean {
  if (a.length !== b.length) return false;
  const canon = (list: readonly PeerEndpoint[]) => list.map(canonicalEndpoint).sort();
  const [x, y] = [canon(a), canon(b)];
  return x.every((v, i) => v === y[i]);
}

/** One string per endpoint, independent of property order (stored JSON may come from another weft). */
export function canonicalEndpoint(e: PeerEndpoint): string {
  return JSON.stringify([e.node, e.nodeAddress, e.network, e.container, e.ipv4 ?? '', e.ipv6 ?? '', e.mac, [...e.aliases].sort()]);
}
