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

/** A stored value back into an endpoint; undefined when it is not one (another writer, an old format). */
export function parseEndpoint(text: string): PeerEndpoint | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined);
  const node = str('node');
  const nodeAddress = str('nodeAddress');
  const container = str('container');
  const network = str('network');
  const mac = str('mac');
  if (!node || !nodeAddress || !container || !network || !mac) return undefined;
  const aliases = Array.isArray(o['aliases']) ? o['aliases'].filter((a): a is string => typeof a === 'string') : [];
  const e: PeerEndpoint = { node, nodeAddress, container, network, mac, aliases };
  const ipv4 = str('ipv4');
  const ipv6 = str('ipv6');
  if (ipv4) e.ipv4 = ipv4;
  if (ipv6) e.ipv6 = ipv6;
  return e;
}
