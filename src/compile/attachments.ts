import type { SourcePos } from '../errors.js';
import { positionOf } from '../manifest/index.js';
import type { CniSpec } from '../model/index.js';
import { formatCidr, formatIp } from '../net/cidr.js';
import { weftAllocates } from './drivers/remote.js';
import type { EndpointPlan, NetworkPlan, Topology } from './topology.js';

/**
 * What the plugin phase (src/plugins) is asked to make: one attachment per endpoint of a local
 * container on a plugin network. Pure data, built by compile; the plugin callers act on it.
 */
/** Which endpoint of which container a plugin makes, and where: shared by attachments and records. */
export interface PluginEndpoint {
  /** The plugin kind: "cni", or the name of a Docker remote driver. */
  kind: string;
  network: string;
  container: string;
  /** Stable id of the container (CNI_CONTAINERID; Docker's sandbox id). */
  containerId: string;
  /** Stable id of the endpoint (Docker's EndpointID). */
  endpointId: string;
  /** Interface name inside the container (CNI_IFNAME; Docker's DstPrefix + index). */
  ifname: string;
  /** The container's namespace: its key in the kernel state and the path to enter it (CNI_NETNS). */
  nsKey: string;
  netnsPath: string;
}

export interface PluginAttachment extends PluginEndpoint {
  /** The container's published ports (CNI's portMappings capability). */
  portMappings: PluginPortMapping[];
  /** What the network declares for its plugin: the CNI configuration, or Docker driver options. */
  spec: PluginNetworkSpec;
  /** The network's place in the manifests (file:line:col), for per-network failures. */
  pos: SourcePos;
}

export interface PluginPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

/** What a plugin network declares, by kind. */
export type PluginNetworkSpec =
  | { kind: 'cni'; cni: Omit<CniSpec, 'src'> }
  | {
      kind: 'remote';
      /** Passed to the plugin as Docker passes --opt (com.docker.network.generic). */
      options: Record<string, string>;
      /** "default" (weft's IPAM: pools and endpoint below), or an IPAM plugin's name. */
      ipamDriver: string;
      enableIPv6: boolean;
      /** The network's pools: weft's (subnet and gateway), or the declared subnets for an IPAM plugin. */
      pools: { subnet: string; gateway?: string }[];
      /** What weft gives the endpoint (Docker's CreateEndpoint Interface); empty with an IPAM plugin. */
      endpoint: { Address?: string; AddressIPv6?: string; MacAddress?: string };
    };

/** The attachments of a compiled topology, sorted by network then container. Pure. */
export function pluginAttachments(topology: Topology): PluginAttachment[] {
  const out: PluginAttachment[] = [];
  for (const ctr of topology.containers.values()) {
    if (!ctr.local || ctr.mode !== 'netns' || !ctr.ns || !ctr.nsPath) continue;
    for (const ep of ctr.endpoints) {
      const net = topology.networks.get(ep.network);
      const kind = net?.driver.plugin;
      if (!net || kind === undefined) continue;
      const n = net.network;
      const spec: PluginNetworkSpec = kind === 'cni'
        ? { kind: 'cni', cni: { ...(n.cni?.config ? { config: n.cni.config } : {}), ...(n.cni?.conflist !== undefined ? { conflist: n.cni.conflist } : {}) } }
        : remoteSpec(net, ep);
      out.push({
        kind,
        network: n.name,
        container: ctr.container.name,
        containerId: ctr.container.id,
        endpointId: ep.endpointId,
        ifname: ep.ifname,
        nsKey: ctr.ns,
        netnsPath: ctr.nsPath,
        portMappings: ctr.container.ports.flatMap((p) => portMappings(p)),
        spec,
        pos: n.src ? positionOf(n.src.doc, '/metadata/name') : { file: '<predefined>', line: 1, col: 1 },
      });
    }
  }
  return out.sort((a, b) => a.network.localeCompare(b.network) || a.container.localeCompare(b.container));
}

/** What a Docker remote driver network declares, and what weft's IPAM gave the endpoint. */
function remoteSpec(net: NetworkPlan, ep: EndpointPlan): PluginNetworkSpec {
  const n = net.network;
  const weft = weftAllocates(net.driver, n);
  const pools = weft
    ? [...net.pools.v4, ...net.pools.v6].map((p) => ({ subnet: formatCidr(p.subnet), gateway: formatIp(p.subnet.family, p.gateway) }))
    : n.pools.map((p) => ({ subnet: formatCidr(p.subnet) }));
  const endpoint = weft
    ? {
        ...(ep.ipv4 ? { Address: `${ep.ipv4.address}/${ep.ipv4.prefix}` } : {}),
        ...(ep.ipv6 ? { AddressIPv6: `${ep.ipv6.address}/${ep.ipv6.prefix}` } : {}),
        MacAddress: ep.mac,
      }
    : {};
  return { kind: 'remote', options: n.options, ipamDriver: n.ipamDriver, enableIPv6: n.enableIPv6, pools, endpoint };
}

/** One CNI port mapping per port of a published range (portmap takes single ports). */
function portMappings(p: { hostPort: number; hostPortEnd?: number; containerPort: number; protocol: 'tcp' | 'udp' | 'sctp'; hostIp?: string }): PluginPortMapping[] {
  const count = (p.hostPortEnd ?? p.hostPort) - p.hostPort + 1;
  return Array.from({ length: count }, (_, i) => ({
    hostPort: p.hostPort + i,
    containerPort: p.containerPort + i,
    protocol: p.protocol,
    ...(p.hostIp ? { hostIP: p.hostIp } : {}),
  }));
}
