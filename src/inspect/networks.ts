import type { Topology } from '../compile/index.js';
import { parseAlias } from '../compile/index.js';
import type { Network } from '../model/index.js';
import { parseCidr, formatCidr } from '../net/cidr.js';
import { containerId, endpointId, networkId } from '../net/ids.js';
import type { KernelState, LinkEntry } from '../state/types.js';
import { HOST } from '../state/types.js';
import type { PluginRecord } from '../plugins/index.js';

/** `docker network inspect`'s shape, filled from observed state (and the manifests when given). Pure. */
export interface DockerNetwork {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string>; Config: { Subnet: string; Gateway?: string; IPRange?: string }[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** Overlay networks (with manifests): the hosts that run the network's containers, as swarm shows them. */
  Peers?: { Name: string; IP: string }[];
}

export interface InspectSources {
  observed: KernelState;
  /** Compiled manifests, when -f was given: adds options, labels, declared-but-empty networks. */
  topology?: Topology;
  predefined: Network[];
  created: Record<string, string>;
  /** Endpoints plugins made (CNI, remote drivers), as recorded: their results give addresses and MACs. */
  plugins?: readonly PluginRecord[];
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

export function inspectNetworks(src: InspectSources): DockerNetwork[] {
  const { observed } = src;
  const links = Object.values(observed.links);
  const bridges = links.filter((l): l is Extract<LinkEntry, { kind: 'bridge' }> => l.kind === 'bridge' && l.ns === HOST);
  const byName = new Map<string, DockerNetwork>();
  const meta = new Map<string, Network>(src.predefined.map((n) => [n.name, n]));
  for (const plan of src.topology?.networks.values() ?? []) meta.set(plan.network.name, plan.network);

  const base = (name: string): DockerNetwork => {
    const n = meta.get(name);
    const plan = src.topology?.networks.get(name);
    return {
      Name: name,
      Id: networkId(name),
      Created: src.created[name] ?? ZERO_TIME,
      Scope: plan?.driver.scope === 'global' ? 'swarm' : 'local',
      Driver: n?.driver ?? 'bridge',
      EnableIPv6: n?.enableIPv6 ?? false,
      IPAM: {
        Driver: n?.ipamDriver ?? 'default',
        Options: {},
        Config: plan
          ? [...plan.pools.v4, ...plan.pools.v6].map((p) => ({
              Subnet: formatCidr(p.subnet),
              Gateway: formatIp(p.subnet.family, p.gateway),
              ...(p.range.prefix !== p.subnet.prefix ? { IPRange: formatCidr(p.range) } : {}),
            }))
          : [],
      },
      Internal: n?.internal ?? false,
      Attachable: n?.attachable ?? false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: {},
      Options: n?.options ?? {},
      Labels: n?.labels ?? {},
    };
  };
  for (const n of src.predefined) byName.set(n.name, base(n.name));
  for (const p of src.topology?.networks.values() ?? []) if (p.materialize || p.network.predefined) byName.set(p.network.name, base(p.network.name));
  for (const b of bridges) {
    const name = parseAlias(b.alias)?.['net'];
    if (!name) continue;
    const net = byName.get(name) ?? base(name);
    // An overlay's bridge has a VXLAN port (and no address on the host).
    const vxlan = links.find((l): l is Extract<LinkEntry, { kind: 'vxlan' }> => l.kind === 'vxlan' && l.master === b.name);
    if (vxlan && !src.topology) {
      net.Driver = 'overlay';
      net.Scope = 'swarm';
      net.Options = { 'com.docker.network.driver.overlay.vxlanid_list': String(vxlan.vni), 'com.docker.network.driver.mtu': String(b.mtu) };
      byName.set(name, net);
      continue;
    }
    if (net.IPAM.Config.length === 0) {
      // Without manifests, the subnet is the gateway address's network.
      for (const a of Object.values(observed.addresses)) {
        if (a.ns !== HOST || a.dev !== b.name) continue;
        const c = parseCidr(a.cidr);
        if (c) net.IPAM.Config.push({ Subnet: formatCidr(c), Gateway: a.cidr.slice(0, a.cidr.indexOf('/')) });
      }
      if (!src.topology) net.Options = { 'com.docker.network.bridge.name': b.name, 'com.docker.network.driver.mtu': String(b.mtu) };
    }
    byName.set(name, net);
  }
  // Endpoints: host veths tagged with container and network, their container ends and addresses.
  for (const v of links) {
    if (v.kind !== 'veth' || v.ns !== HOST) continue;
    const tag = parseAlias(v.alias);
    const ctr = tag?.['ctr'];
    const netName = tag?.['net'];
    if (!ctr || !netName) continue;
    const net = byName.get(netName) ?? base(netName);
    byName.set(netName, net);
    const peer = observed.links[`${v.peer.ns}/${v.peer.name}`];
    net.Containers[containerId(ctr)] = endpointEntry(observed, ctr, netName, peer?.kind === 'veth-peer' ? peer.mac : '', v.peer.ns, v.peer.name);
  }
  // macvlan endpoints: the interface itself is tagged, inside the container's namespace.
  for (const m of links) {
    if (m.kind !== 'macvlan') continue;
    const tag = parseAlias(m.alias);
    const ctr = tag?.['ctr'];
    const netName = tag?.['net'];
    if (!ctr || !netName) continue;
    const net = byName.get(netName) ?? base(netName);
    if (!src.topology) {
      net.Driver = 'macvlan';
      net.Options = { parent: m.parent, macvlan_mode: m.mode };
    }
    byName.set(netName, net);
    net.Containers[containerId(ctr)] = endpointEntry(observed, ctr, netName, m.mac, m.ns, m.name);
  }
  for (const rec of src.plugins ?? []) addPluginEndpoint(byName, base(rec.network), rec, src.topology === undefined);
  // Containers on "none" (a namespace with loopback only) show up there, as in Docker.
  if (src.topology) {
    const none = byName.get('none');
    for (const c of src.topology.containers.values()) {
      if (!none || !c.local || !c.ns || !observed.netns[c.ns]) continue;
      if (c.container.endpoints.some((e) => e.network === 'none')) {
        none.Containers[c.container.id] = { Name: c.container.name, EndpointID: endpointId(c.container.name, 'none'), MacAddress: '', IPv4Address: '', IPv6Address: '' };
      }
    }
  }
  if (src.topology) addPeers(byName, src.topology);
  return [...byName.values()];
}

/**
 * A plugin's endpoint, from its recorded result: the addresses and MAC of the interface in the
 * container; the subnets and gateways the result names fill IPAM.Config.
 */
function addPluginEndpoint(byName: Map<string, DockerNetwork>, fresh: DockerNetwork, rec: PluginRecord, observedOnly: boolean): void {
  const net = byName.get(rec.network) ?? fresh;
  if (observedOnly) net.Driver = rec.kind;
  byName.set(rec.network, net);
  const ifs = rec.result.interfaces ?? [];
  const mine = ifs.findIndex((i) => i.name === rec.ifname && i.sandbox !== undefined && i.sandbox !== '');
  const ips = (rec.result.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === mine);
  for (const ip of ips) {
    const c = parseCidr(ip.address);
    if (!c) continue;
    const subnet = formatCidr(c);
    if (!net.IPAM.Config.some((x) => x.Subnet === subnet)) net.IPAM.Config.push({ Subnet: subnet, ...(ip.gateway !== undefined ? { Gateway: ip.gateway } : {}) });
  }
  net.Containers[containerId(rec.container)] = {
    Name: rec.container,
    EndpointID: rec.endpointId,
    MacAddress: mine >= 0 ? (ifs[mine]?.mac ?? '') : '',
    IPv4Address: ips.find((ip) => !ip.address.includes(':'))?.address ?? '',
    IPv6Address: ips.find((ip) => ip.address.includes(':'))?.address ?? '',
  };
}

/** Docker's Peers of an overlay network: every host (this one included) with a container on it. */
function addPeers(byName: Map<string, DockerNetwork>, topology: Topology): void {
  for (const plan of topology.networks.values()) {
    const net = byName.get(plan.network.name);
    if (!net || plan.driver.scope !== 'global') continue;
    const peers = new Map<string, string>();
    if (plan.materialize && topology.node !== undefined && topology.nodeAddress !== undefined) peers.set(topology.node, topology.nodeAddress);
    for (const c of topology.containers.values()) {
      if (!c.local && c.hostAddress !== undefined && c.container.host !== undefined && c.endpoints.some((e) => e.network === plan.network.name)) {
        peers.set(c.container.host, c.hostAddress);
      }
    }
    net.Peers = [...peers].sort(([a], [b]) => a.localeCompare(b)).map(([Name, IP]) => ({ Name, IP }));
  }
}

/** A `Containers` entry: the endpoint's interface (in its namespace) and the addresses on it. */
function endpointEntry(observed: KernelState, ctr: string, network: string, mac: string, ns: string, dev: string): DockerNetwork['Containers'][string] {
  const addrs = Object.values(observed.addresses).filter((a) => a.ns === ns && a.dev === dev);
  return {
    Name: ctr,
    EndpointID: endpointId(ctr, network),
    MacAddress: mac,
    IPv4Address: addrs.find((a) => !a.cidr.includes(':'))?.cidr ?? '',
    IPv6Address: addrs.find((a) => a.cidr.includes(':'))?.cidr ?? '',
  };
}

function formatIp(family: 4 | 6, v: bigint): string {
  return formatCidr({ family, base: v, prefix: family === 4 ? 32 : 128 }).replace(/\/\d+$/, '');
}
