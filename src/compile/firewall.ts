import { Opt } from '../model/index.js';
import type { PortMapping } from '../model/index.js';
import { canonicalIp, parseIp } from '../net/cidr.js';
import type { NftDataType, NftExpr, NftSetFlag, NftStatement } from '../nft/index.js';
import { anonSet, concat, counter, ct, drop, fib, isDnat, mapLookup, masquerade, match, meta, notDnat, payload, prefix, setRef } from '../nft/index.js';
import type { NftChainEntry, NftEntry, Owner } from '../state/types.js';
import { HOST } from '../state/types.js';
import type { StateBuilder } from './state-builder.js';
import type { ContainerPlan, EndpointPlan, NetworkPlan, Topology } from './topology.js';
import { FIREWALL_TABLE, hostOwner } from '../naming.js';

/**
 * The host firewall: masquerade, isolation between networks, enable_icc, internal networks and
 * published ports, as one nftables table (`inet weft`) plus the sysctls it needs. Rules that match
 * only interface names hold for IPv4 and IPv6 alike (the `inet` family sees both). Everything that
 * grows with the manifests (bridges, ports) is a set or map element; the rules are a fixed list,
 * so the ruleset grows linearly with networks and ports. Pure.
 */

export { FIREWALL_TABLE, hostOwner };

/** Networks the firewall treats as bridges: a bridge on this host that the host routes for. */
export function firewalledNetworks(topology: Topology): (NetworkPlan & { ifname: string })[] {
  return [...topology.networks.values()].filter((n): n is NetworkPlan & { ifname: string } => n.driver.firewalled === true && n.materialize && n.ifname !== undefined);
}

/**
 * Where a container's published ports are DNATed: its endpoint on the first non-internal network
 * sorted by name (the one that holds its default route, as Docker's gateway endpoint), if that
 * network is a firewalled bridge on this host and the endpoint has an IPv4 address.
 */
export function publishEndpoint(ctr: ContainerPlan, topology: Topology): EndpointPlan | undefined {
  if (!ctr.local || ctr.container.ports.length === 0) return undefined;
  const ep = ctr.defaultRoute4;
  const net = ep ? topology.networks.get(ep.network) : undefined;
  if (!ep?.ipv4 || !net?.driver.firewalled || !net.materialize || !net.ifname) return undefined;
  return ep;
}

/** Marks the endpoints that receive published ports (their bridge ports need hairpin mode). */
export function markPublishEndpoints(topology: Topology): void {
  for (const ctr of topology.containers.values()) {
    const ep = publishEndpoint(ctr, topology);
    if (ep) ep.hairpin = true;
  }
}

// ---- the fixed layout: sets, maps, chains, rules ----

interface SetSpec {
  type: NftDataType[];
  map?: NftDataType;
  flags?: NftSetFlag[];
}

/** Published ports are keyed by host address . protocol . host port (the address may be 0.0.0.0/0 or ::/0). */
const PORT_KEY: NftDataType[] = ['ipv4_addr', 'inet_proto', 'inet_service'];
const PORT_KEY6: NftDataType[] = ['ipv6_addr', 'inet_proto', 'inet_service'];

export const SETS = {
  /** Every firewalled bridge. */
  bridges: { type: ['ifname'] },
  /** "br . br" for every bridge: `iifname . oifname != @same_bridge` means "between two interfaces". */
  same_bridge: { type: ['ifname', 'ifname'] },
  /** Bridges whose outbound IPv4 is masqueraded (not internal, enable_ip_masquerade not false, gateway mode nat). */
  masq_bridges: { type: ['ifname'] },
  /** The same for IPv6 (networks with IPv6 and gateway_mode_ipv6 nat). */
  masq6_bridges: { type: ['ifname'] },
  /** Bridges in Docker 28's "routed" gateway mode for IPv4 / IPv6: no NAT; from outside, published container ports and ICMP. */
  routed4_bridges: { type: ['ifname'] },
  routed6_bridges: { type: ['ifname'] },
  /** Routed mode: "container address . protocol . container port" of every published port. */
  routed_open: { type: ['ipv4_addr', 'inet_proto', 'inet_service'] },
  routed_open6: { type: ['ipv6_addr', 'inet_proto', 'inet_service'] },
  /** Bridges of internal networks. */
  internal_bridges: { type: ['ifname'] },
  /** Bridges with enable_icc=false. */
  no_icc_bridges: { type: ['ifname'] },
  /** "addr . addr" of every endpoint receiving published ports: a container reaching its own port. */
  self_hairpin: { type: ['ipv4_addr', 'ipv4_addr'] },
  /** Published ports: the container address to DNAT to. */
  pub_addr: { type: PORT_KEY, map: 'ipv4_addr', flags: ['interval'] },
  /** Published ports: the container port (nft 1.0.6 JSON cannot build one map with "addr . port" values). */
  pub_port: { type: PORT_KEY, map: 'inet_service', flags: ['interval'] },
  /** The IPv6 twins of the three above (an nftables set holds one address family). */
  self_hairpin6: { type: ['ipv6_addr', 'ipv6_addr'] },
  pub_addr6: { type: PORT_KEY6, map: 'ipv6_addr', flags: ['interval'] },
  pub_port6: { type: PORT_KEY6, map: 'inet_service', flags: ['interval'] },
} satisfies Record<string, SetSpec>;

type SetName = keyof typeof SETS;

const CHAINS: Record<string, NonNullable<NftChainEntry['base']>> = {
  prerouting: { type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' },
  // "priority dstnat" is rejected for the output hook by nft 1.0.6: the number works.
  output: { type: 'nat', hook: 'output', prio: -100, policy: 'accept' },
  postrouting: { type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' },
  forward: { type: 'filter', hook: 'forward', prio: 0, policy: 'accept' },
  input: { type: 'filter', hook: 'input', prio: 0, policy: 'accept' },
};

const iif = meta('iifname');
const oif = meta('oifname');
const ref = (s: SetName) => setRef(s);
const betweenTwo = match(concat(iif, oif), '!=', ref('same_bridge'));
const ipv4Only = match(meta('nfproto'), '==', 'ipv4');
const ipv6Only = match(meta('nfproto'), '==', 'ipv6');
const fromOutside = [match(iif, '!=', ref('bridges')), match(ct('state'), 'in', 'new')];
const toRoutedPort = (family: 'ip' | 'ip6', open: SetName) => match(concat(payload(family, 'daddr'), meta('l4proto'), payload('th', 'dport')), '!=', ref(open));
/** DNAT to a published port: `fib daddr type local meta l4proto {tcp,udp,sctp} dnat ip to <maps>`. */
function publishTo(family: 'ip' | 'ip6', addrMap: SetName, portMap: SetName): NftStatement[] {
  const key = concat(payload(family, 'daddr'), meta('l4proto'), payload('th', 'dport'));
  return [
    match(fib('type', 'daddr'), '==', 'local'),
    match(meta('l4proto'), '==', anonSet('tcp', 'udp', 'sctp')),
    { dnat: { family, addr: mapLookup(key, addrMap), port: mapLookup(key, portMap) } },
  ];
}
const publish = publishTo('ip', 'pub_addr', 'pub_port');
const publish6 = publishTo('ip6', 'pub_addr6', 'pub_port6');

/** chain -> rule name -> statements. Rules of a chain are independent of their order (drops, or exclusive NAT). */
export const RULES: Record<string, Record<string, NftStatement[]>> = {
  prerouting: { publish, publish6 },
  output: { publish, publish6 },
  postrouting: {
    // Outbound traffic of a bridge takes the address of the interface it leaves through.
    masquerade: [ipv4Only, match(iif, '==', ref('masq_bridges')), match(oif, '!=', ref('bridges')), masquerade],
    masquerade6: [ipv6Only, match(iif, '==', ref('masq6_bridges')), match(oif, '!=', ref('bridges')), masquerade],
    // The host reaching a published port at 127.0.0.1: the container cannot answer 127.0.0.1.
    'masquerade-loopback': [match(payload('ip', 'saddr'), '==', prefix('127.0.0.0', 8)), match(oif, '==', ref('bridges')), isDnat, masquerade],
    // A container reaching its own published port: without this it would answer itself directly.
    'masquerade-hairpin': [isDnat, match(concat(payload('ip', 'saddr'), payload('ip', 'daddr')), '==', ref('self_hairpin')), masquerade],
    'masquerade-hairpin6': [isDnat, match(concat(payload('ip6', 'saddr'), payload('ip6', 'daddr')), '==', ref('self_hairpin6')), masquerade],
  },
  forward: {
    // Networks are isolated from each other; published ports (DNATed) stay reachable from any of them.
    isolate: [match(iif, '==', ref('bridges')), match(oif, '==', ref('bridges')), betweenTwo, notDnat, counter, drop],
    // Internal networks: nothing leaves or enters except between their own members.
    'internal-out': [match(iif, '==', ref('internal_bridges')), betweenTwo, counter, drop],
    'internal-in': [match(oif, '==', ref('internal_bridges')), betweenTwo, counter, drop],
    // enable_icc=false: with br_netfilter, traffic between two ports of one bridge is forwarded
    // with iifname == oifname == the bridge. Two different such bridges are dropped by isolate anyway.
    icc: [match(iif, '==', ref('no_icc_bridges')), match(oif, '==', ref('no_icc_bridges')), notDnat, counter, drop],
    // From outside, containers are reachable only through published ports (Docker's "nat" mode).
    inbound: [ipv4Only, match(oif, '==', ref('bridges')), match(oif, '!=', ref('routed4_bridges')), ...fromOutside, notDnat, counter, drop],
    inbound6: [ipv6Only, match(oif, '==', ref('bridges')), match(oif, '!=', ref('routed6_bridges')), ...fromOutside, notDnat, counter, drop],
    // "routed" mode: from outside, only ICMP and the published ports at the container's own address.
    'inbound-routed': [match(oif, '==', ref('routed4_bridges')), ...fromOutside, match(meta('l4proto'), '!=', 'icmp'), toRoutedPort('ip', 'routed_open'), counter, drop],
    'inbound-routed6': [match(oif, '==', ref('routed6_bridges')), ...fromOutside, match(meta('l4proto'), '!=', 'ipv6-icmp'), toRoutedPort('ip6', 'routed_open6'), counter, drop],
  },
  input: {
    // route_localnet lets 127.0.0.1 reach the bridges (for published ports): never the other way round.
    localnet: [match(iif, '==', ref('bridges')), match(payload('ip', 'daddr'), '==', prefix('127.0.0.0', 8)), notDnat, counter, drop],
  },
};

/**
 * The host needs a firewall while it has bridge networks. Without any (containers on none or
 * host only) weft leaves the host's firewall and forwarding alone; a firewall left from earlier
 * is then an orphan of the host, kept until --prune like the bridges it protected.
 */
export function firewallWanted(topology: Topology): boolean {
  return firewalledNetworks(topology).length > 0;
}

/** The desired firewall of this host: its nftables table and sysctls. */
export function firewallState(topology: Topology, out: StateBuilder): void {
  if (!firewallWanted(topology)) return;
  const host = hostOwner(topology.hostNetns);
  const { family, name: table } = FIREWALL_TABLE;
  const base = { ns: HOST, family, table } as const;
  const add = (e: NftEntry) => out.nft(e);
  const elem = (set: SetName, key: NftExpr, owner: Owner, value?: NftExpr) => add({ kind: 'element', ...base, set, key, ...(value !== undefined ? { value } : {}), owner });

  add({ kind: 'table', ns: HOST, family, name: table, owner: host });
  for (const [name, spec] of Object.entries(SETS) as [SetName, SetSpec][]) add({ kind: 'set', ...base, name, ...spec, owner: host });
  for (const [name, b] of Object.entries(CHAINS)) add({ kind: 'chain', ...base, name, base: b, owner: host });
  for (const [chain, rules] of Object.entries(RULES)) {
    for (const [name, expr] of Object.entries(rules)) add({ kind: 'rule', ...base, chain, name, expr, owner: host });
  }
  out.sysctl({ ns: HOST, path: 'net/ipv4/ip_forward', value: '1', owner: host });
  // Same-bridge traffic must pass the inet hooks (icc, hairpin); Docker sets this too.
  out.sysctl({ ns: HOST, path: 'net/bridge/bridge-nf-call-iptables', value: '1', owner: host });
  // IPv6 passes the same family-blind rules (they match interface names), so a dual-stack
  // network needs only IPv6 forwarding and br_netfilter for IPv6, as Docker 27+ sets them.
  if (firewalledNetworks(topology).some((n) => n.network.enableIPv6)) {
    out.sysctl({ ns: HOST, path: 'net/ipv6/conf/all/forwarding', value: '1', owner: host });
    out.sysctl({ ns: HOST, path: 'net/bridge/bridge-nf-call-ip6tables', value: '1', owner: host });
  }

  for (const net of firewalledNetworks(topology)) {
    const owner = { kind: 'network' as const, name: net.network.name };
    const br = net.ifname;
    elem('bridges', br, owner);
    elem('same_bridge', concat(br, br), owner);
    const routed4 = gatewayMode(net, 4) === 'routed';
    const routed6 = gatewayMode(net, 6) === 'routed';
    if (routed4) elem('routed4_bridges', br, owner);
    if (routed6) elem('routed6_bridges', br, owner);
    if (net.network.internal) elem('internal_bridges', br, owner);
    else if (net.network.options[Opt.enableMasquerade] !== 'false') {
      if (!routed4) elem('masq_bridges', br, owner);
      if (!routed6 && net.network.enableIPv6) elem('masq6_bridges', br, owner);
    }
    if (net.network.options[Opt.enableIcc] === 'false') elem('no_icc_bridges', br, owner);
  }

  const localnet = new Set<string>();
  for (const ctr of topology.containers.values()) {
    const ep = publishEndpoint(ctr, topology);
    const net = ep ? topology.networks.get(ep.network) : undefined;
    if (!ep?.ipv4 || !net?.ifname) continue;
    const owner = { kind: 'container' as const, name: ctr.container.name };
    const addr = ep.ipv4.address;
    const addr6 = ep.ipv6?.address;
    elem('self_hairpin', concat(addr, addr), owner);
    if (addr6 !== undefined) elem('self_hairpin6', concat(addr6, addr6), owner);
    const routed = { 4: gatewayMode(net, 4) === 'routed', 6: gatewayMode(net, 6) === 'routed' };
    for (const p of ctr.container.ports) {
      // Routed mode (per family): no NAT, the host port is ignored; the container port opens at its own address.
      for (let i = 0; i <= p.containerPortEnd - p.containerPort; i++) {
        if (routed[4]) elem('routed_open', concat(addr, p.protocol, p.containerPort + i), owner);
        if (routed[6] && addr6 !== undefined) elem('routed_open6', concat(addr6, p.protocol, p.containerPort + i), owner);
      }
      for (const bind of hostAddresses(p, net.network.options[Opt.hostBindingIpv4], addr6 !== undefined)) {
        if (routed[bind.family]) continue;
        const [addrMap, portMap, to] = bind.family === 4 ? (['pub_addr', 'pub_port', addr] as const) : (['pub_addr6', 'pub_port6', addr6!] as const);
        for (let i = 0; i <= p.hostPortEnd - p.hostPort; i++) {
          const key = concat(bind.key, p.protocol, p.hostPort + i);
          elem(addrMap, key, owner, to);
          elem(portMap, key, owner, p.containerPort + i);
        }
      }
    }
    if (!localnet.has(net.ifname)) {
      localnet.add(net.ifname);
      // The host reaching a published port at 127.0.0.1: the DNATed packet leaves through the bridge.
      out.sysctl({ ns: HOST, path: `net/ipv4/conf/${net.ifname}/route_localnet`, dev: net.ifname, value: '1', owner: { kind: 'network', name: net.network.name } });
    }
  }
}

/** Docker 28's per-family gateway mode of a bridge network: "nat" (the default) or "routed". */
function gatewayMode(net: NetworkPlan, family: 4 | 6): 'nat' | 'routed' {
  return net.network.options[family === 4 ? Opt.gatewayModeIpv4 : Opt.gatewayModeIpv6] === 'routed' ? 'routed' : 'nat';
}

/**
 * The host address parts of a port's keys, as Docker: the port's own address (`0.0.0.0` is any
 * IPv4 address, `[::]` any IPv6 one), else the network's host_binding_ipv4, else any address of
 * both families (IPv6 only when the container has IPv6; validation rejects an explicit IPv6 bind
 * to a container without it).
 */
function hostAddresses(p: PortMapping, networkDefault: string | undefined, hasIpv6: boolean): { family: 4 | 6; key: NftExpr }[] {
  const text = p.hostIp ?? networkDefault;
  if (text === undefined) return [{ family: 4, key: prefix('0.0.0.0', 0) }, ...(hasIpv6 ? [{ family: 6 as const, key: prefix('::', 0) }] : [])];
  const family = parseIp(text)?.family;
  if (family === undefined || (family === 6 && !hasIpv6)) return [];
  const ip = canonicalIp(text);
  if (ip === '0.0.0.0' || ip === '::') return [{ family, key: prefix(ip, 0) }];
  return [{ family, key: ip }];
}
