import type { NftStatement } from '../nft/index.js';
import { drop, masquerade, match, meta, payload, prefix } from '../nft/index.js';
import { hasEmbeddedDns, parseResolvConf, usesEmbeddedDns } from './files.js';
import type { StateBuilder } from './state-builder.js';
import type { ContainerPlan, EndpointPlan, Topology } from './topology.js';

/**
 * What the embedded DNS server answers, derived from the compiled Topology (pure): the names on
 * each network, the containers that ask (by source address) with the networks they see, and the
 * gateway addresses the server listens on. Every endpoint in the topology counts, local or not,
 * so containers on other hosts of an overlay network resolve as soon as the topology has them.
 */

/** The address containers send DNS to; nftables in each container namespace redirects it. */
export const EMBEDDED_DNS_ADDRESS = '127.0.0.11';
/** Docker's TTL for container records. */
export const DNS_TTL = 600;
/** The nftables table weft keeps in each container namespace that uses the embedded DNS. */
export const DNS_REDIRECT_TABLE = { family: 'ip', name: 'weft_dns' } as const;

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
  container: string;
  /** The container's IPv4 addresses: queries arrive from one of them (after the masquerade). */
  addresses: string[];
  /** The user-defined networks it is on, in manifest order: the names it may resolve. */
  networks: string[];
  links: DnsLinkAlias[];
  /** Where names weft does not own go: dns.servers, else the host's resolvers. */
  upstreams: string[];
}

export interface DnsConfig {
  /** Gateway addresses the server listens on (UDP and TCP port 53). */
  listen: string[];
  networks: DnsNetwork[];
  clients: DnsClient[];
}

/**
 * The endpoint whose gateway receives the container's DNS: a user-defined network first (sorted
 * by name, like the default route), else any, as long as the gateway sits on a host interface.
 */
export function dnsGatewayEndpoint(ctr: ContainerPlan, topology: Topology): EndpointPlan | undefined {
  const candidates = ctr.endpoints
    .filter((ep) => ep.ipv4 && topology.networks.get(ep.network)?.driver.gatewayOnHost === true)
    .sort((a, b) => Number(hasEmbeddedDns(topology, b.network)) - Number(hasEmbeddedDns(topology, a.network)) || a.network.localeCompare(b.network));
  return candidates[0];
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
  const listen = new Set<string>();
  for (const ctr of topology.containers.values()) {
    if (!ctr.local || ctr.mode !== 'netns' || !usesEmbeddedDns(ctr, topology)) continue;
    const gw = dnsGatewayEndpoint(ctr, topology);
    if (gw?.ipv4) listen.add(gw.ipv4.gateway);
    const dnsNets = ctr.endpoints.filter((ep) => hasEmbeddedDns(topology, ep.network));
    clients.push({
      container: ctr.container.name,
      addresses: ctr.endpoints.flatMap((ep) => (ep.ipv4 ? [ep.ipv4.address] : [])),
      networks: dnsNets.map((ep) => ep.network),
      links: dnsNets.flatMap((ep) => ep.links.map((l) => ({ alias: l.alias.toLowerCase(), container: l.container, network: ep.network }))),
      upstreams: ctr.container.dns.servers.length > 0 ? [...ctr.container.dns.servers] : host,
    });
  }
  return {
    listen: [...listen].sort(),
    networks: [...networks.values()].sort((a, b) => a.name.localeCompare(b.name)),
    clients,
  };
}

function unique<T>(xs: T[]): T[] {
  return xs.filter((v, i, a) => a.indexOf(v) === i);
}

/** The redirect table's rules by chain and name (statements as weft loads them). */
export function dnsRedirectRules(gateway: string): Record<'prerouting' | 'output' | 'postrouting', Record<string, NftStatement[]>> {
  const toGateway = (protocol: 'udp' | 'tcp'): NftStatement[] => [
    match(payload('ip', 'daddr'), '==', EMBEDDED_DNS_ADDRESS),
    match(payload(protocol, 'dport'), '==', 53),
    { dnat: { addr: gateway, port: 53 } },
  ];
  // route_localnet (below) makes the kernel accept 127.0.0.0/8 on that interface: without these,
  // a neighbour could reach the container's localhost-only services (the CVE-2020-8558 class).
  const fromOutside = (field: 'saddr' | 'daddr'): NftStatement[] => [match(meta('iifname'), '!=', 'lo'), match(payload('ip', field), '==', prefix('127.0.0.0', 8)), drop];
  return {
    prerouting: { 'localnet-saddr': fromOutside('saddr'), 'localnet-daddr': fromOutside('daddr') },
    output: { 'dns-udp': toGateway('udp'), 'dns-tcp': toGateway('tcp') },
    postrouting: { 'dns-masq': [match(payload('ip', 'saddr'), '==', prefix('127.0.0.0', 8)), match(payload('ip', 'daddr'), '==', gateway), masquerade] },
  };
}

const REDIRECT_CHAINS = {
  // Before conntrack (-200) and NAT: replies to the redirected queries still carry the gateway
  // and the container's own address here (they become 127.x only at NAT), so only packets that
  // really arrive from outside with a loopback address are dropped.
  prerouting: { type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' },
  output: { type: 'nat', hook: 'output', prio: -100, policy: 'accept' },
  postrouting: { type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' },
} as const;

/**
 * Desired state for a local container on a user-defined network: the `ip weft_dns` table (DNAT of
 * 127.0.0.11:53 to the gateway, masquerade of the 127.x source, a drop of 127.0.0.0/8 arriving
 * on any interface but lo) and route_localnet on the
 * interface towards the gateway (without it the kernel drops the packet that still carries a 127.x
 * source; it is per interface, so a recreated interface needs it again).
 */
export function dnsRedirectState(ctr: ContainerPlan, topology: Topology, out: StateBuilder): void {
  if (!ctr.local || ctr.mode !== 'netns' || !ctr.ns || !usesEmbeddedDns(ctr, topology)) return;
  const gw = dnsGatewayEndpoint(ctr, topology);
  if (!gw?.ipv4) return;
  const owner = { kind: 'container' as const, name: ctr.container.name };
  const { family, name: table } = DNS_REDIRECT_TABLE;
  const base = { ns: ctr.ns, family, table, owner } as const;
  out.nft({ kind: 'table', ns: ctr.ns, family, name: table, owner });
  for (const [name, b] of Object.entries(REDIRECT_CHAINS)) out.nft({ kind: 'chain', ...base, name, base: { ...b } });
  for (const [chain, rules] of Object.entries(dnsRedirectRules(gw.ipv4.gateway))) {
    for (const [name, expr] of Object.entries(rules)) out.nft({ kind: 'rule', ...base, chain, name, expr });
  }
  out.sysctl({ ns: ctr.ns, path: `net/ipv4/conf/${gw.ifname}/route_localnet`, dev: gw.ifname, value: '1', owner });
}
