import { hasEmbeddedDns, parseResolvConf, usesEmbeddedDns } from './files.js';
import type { StateBuilder } from './state-builder.js';
import type { ContainerPlan, Topology } from './topology.js';
import { LEGACY_DNS_TABLE } from '../naming.js';

/**
 * What the embedded DNS server answers, derived from the compiled Topology (pure): the names on
 * each network, and the containers that ask, each with the namespace its sockets are opened in and
 * the networks it sees. Every endpoint in the topology counts, local or not, so containers on
 * other hosts of an overlay network resolve as soon as the topology has them.
 */

/** The address containers send DNS to: the server's sockets are bound to it inside each container namespace. */
export const EMBEDDED_DNS_ADDRESS = '127.0.0.11';
/** Docker's TTL for container records. */
export const DNS_TTL = 600;
/**
 * The nftables table older weft versions kept in each container namespace (a DNAT of 127.0.0.11
 * to the gateway). No longer desired: still read, so that one left by an upgrade is deleted.
 */
export { LEGACY_DNS_TABLE };

export interface DnsNameEntry {
  container: string;
  /** Lower-case names this endpoint answers to on its network: name, short id, aliases. */
  names: string[];
  ipv4?: string;
  ipv6?: string;
}

export interface DnsNetwork {
  name: string;
  entries: DnsNameEntry[];
}

/** A legacy link (`links: ["db1:db"]`) on a user-defined network: visible to the linking container only. */
export interface DnsLinkAlias {
  alias: string;
  container: string;
  network: string;
}

export interface DnsClient {
  /** The container: the sockets in its namespace name it (queries carry no other identity). */
  container: string;
  /** The path to enter its namespace (/run/netns/NAME, or an attached path): the sockets are made there. */
  netns: string;
  /** The user-defined networks it is on, in manifest order: the names it may resolve. */
  networks: string[];
  links: DnsLinkAlias[];
  /** Where names weft does not own go: dns.servers, else the host's resolvers. */
  upstreams: string[];
}

export interface DnsConfig {
  networks: DnsNetwork[];
  clients: DnsClient[];
}

/** Upstream resolvers of the host namespace. The server forwards from the host namespace, so its loopback resolvers work too. */
export function hostUpstreams(hostResolvConf: string): string[] {
  return parseResolvConf(hostResolvConf).nameservers;
}

/** Builds the DNS server's configuration from the topology. Pure. */
export function buildDnsConfig(topology: Topology, hostResolvConf: string): DnsConfig {
  const host = hostUpstreams(hostResolvConf);
  const networks = new Map<string, DnsNetwork>();
  for (const ctr of topology.containers.values()) {
    for (const ep of ctr.endpoints) {
      if (!hasEmbeddedDns(topology, ep.network) || (!ep.ipv4 && !ep.ipv6)) continue;
      let net = networks.get(ep.network);
      if (!net) networks.set(ep.network, (net = { name: ep.network, entries: [] }));
      const names = unique([ctr.container.name, ctr.container.id.slice(0, 12), ...ep.aliases].map((n) => n.toLowerCase()));
      const entry: DnsNameEntry = { container: ctr.container.name, names };
      if (ep.ipv4) entry.ipv4 = ep.ipv4.address;
      if (ep.ipv6) entry.ipv6 = ep.ipv6.address;
      net.entries.push(entry);
    }
  }
  const clients: DnsClient[] = [];
  for (const ctr of topology.containers.values()) {
    if (!ctr.local || ctr.mode !== 'netns' || !ctr.nsPath || !usesEmbeddedDns(ctr, topology)) continue;
    const dnsNets = ctr.endpoints.filter((ep) => hasEmbeddedDns(topology, ep.network));
    clients.push({
      container: ctr.container.name,
      netns: ctr.nsPath,
      networks: dnsNets.map((ep) => ep.network),
      links: dnsNets.flatMap((ep) => ep.links.map((l) => ({ alias: l.alias.toLowerCase(), container: l.container, network: ep.network }))),
      upstreams: ctr.container.dns.servers.length > 0 ? [...ctr.container.dns.servers] : host,
    });
  }
  return {
    networks: [...networks.values()].sort((a, b) => a.name.localeCompare(b.name)),
    clients,
  };
}

function unique<T>(xs: T[]): T[] {
  return xs.filter((v, i, a) => a.indexOf(v) === i);
}

/**
 * Desired state for a container that uses the embedded DNS: route_localnet 0 on its interfaces.
 * The DNS sockets live on the container's own loopback, so nothing needs 127.0.0.0/8 routed from
 * an interface, and with route_localnet 0 the kernel drops loopback addresses arriving from
 * outside (no neighbour reaches the container's localhost services: docs/security.md item 4).
 * Older weft set it to 1 for its DNAT; desiring 0 puts an upgraded host back (the sysctl is per
 * interface and read only where desired).
 */
export function dnsLocalnetState(ctr: ContainerPlan, topology: Topology, out: StateBuilder): void {
  if (!ctr.local || ctr.mode !== 'netns' || !ctr.ns || !usesEmbeddedDns(ctr, topology)) return;
  const owner = { kind: 'container' as const, name: ctr.container.name };
  for (const ep of ctr.endpoints) {
    // A plugin's interface (CNI, Docker remote driver) appears after the kernel program, made by
    // the plugin: weft sets nothing on it (the kernel's default is 0 there too).
    if (topology.networks.get(ep.network)?.driver.plugin !== undefined) continue;
    out.sysctl({ ns: ctr.ns, path: `net/ipv4/conf/${ep.ifname}/route_localnet`, dev: ep.ifname, value: '0', owner });
  }
}
