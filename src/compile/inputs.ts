import type { KernelState } from '../state/types.js';
import { HOST } from '../state/types.js';
import { ipv4FromMac } from '../net/ids.js';
import { parseAlias } from '../naming.js';

/**
 * What compile needs besides the manifests. Everything here was read by the caller, so compile
 * itself stays pure.
 */
export interface CompileInputs {
  /** "" on a real host; the --host-netns name otherwise. Prefixes container namespace names. */
  hostNetns: string;
  /** The node this weft runs as (a Host name), or undefined when manifests declare no hosts. */
  node?: string;
  /** Addresses and subnets already in the kernel, so that IPAM is sticky. */
  allocations: Allocations;
  /** The host namespace's /etc/resolv.conf, for upstream DNS servers. */
  hostResolvConf: string;
  /** Subnets routed in the host namespace by others (not weft): default pools skip them. */
  hostRoutes: string[];
  /**
   * Predefined networks to keep although no declared container uses them (the default bridge
   * while orphaned containers still hang off it; dropped with --prune).
   */
  keepNetworks?: ReadonlySet<string>;
  /**
   * Interfaces of the host namespace that are not weft's (macvlan parents), with their MTUs.
   * Undefined before the first observation: parents are then not checked.
   */
  hostInterfaces?: { name: string; mtu: number }[];
  /** "container|network" -> CIDRs a plugin gave the endpoint (its recorded result), for plugin networks. */
  pluginAddresses?: ReadonlyMap<string, string[]>;
  /** Endpoints other nodes published in the membership store (--store), for global networks. */
  peers?: PeerEndpoint[];
}

/** An endpoint a node published in the membership store: what its peers need to reach it. */
export interface PeerEndpoint {
  node: string;
  /** The node's underlay (VTEP) address. */
  nodeAddress: string;
  container: string;
  network: string;
  /** address/prefix */
  ipv4?: string;
  ipv6?: string;
  mac: string;
  aliases: string[];
}

export interface Allocations {
  /** network name -> CIDRs of its gateway addresses found on its bridge */
  subnets: Map<string, string[]>;
  /** "container|network" -> CIDRs found on the endpoint's interface */
  addresses: Map<string, string[]>;
  /**
   * container -> addresses (a.b.c.d/32, x::y/128) it had before someone deleted them: the IPv4
   * address its endpoints' MACs were made from, and its own lines in the hosts file weft wrote
   * for it (which outlives a deleted veth pair). IPAM gives one back, when it fits the network and
   * no one holds it, rather than the lowest free address.
   */
  remembered?: Map<string, string[]>;
}

export function endpointKey(container: string, network: string): string {
  return `${container}|${network}`;
}

/** Reads the allocations weft made earlier out of observed state. Pure. */
export function extractAllocations(observed: KernelState): Allocations {
  const subnets = new Map<string, string[]>();
  const addresses = new Map<string, string[]>();
  // Indexed once by namespace and device: a scan per endpoint is quadratic in the containers.
  const byDevice = new Map<string, string[]>();
  for (const a of Object.values(observed.addresses)) {
    const key = `${a.ns}\0${a.dev}`;
    const list = byDevice.get(key);
    if (list) list.push(a.cidr);
    else byDevice.set(key, [a.cidr]);
  }
  const addrsOf = (ns: string, dev: string) => [...(byDevice.get(`${ns}\0${dev}`) ?? [])];
  const peerMacs = new Map<string, string>();
  for (const l of Object.values(observed.links)) if (l.kind === 'veth-peer') peerMacs.set(`${l.ns}\0${l.name}`, l.mac);
  const remembered = new Map<string, string[]>();
  const remember = (ctr: string, cidr: string) => remembered.set(ctr, [...(remembered.get(ctr) ?? []), cidr]);
  for (const f of Object.values(observed.files)) {
    if (f.owner.kind === 'container' && f.path.endsWith('/hosts')) for (const a of ownHostsAddresses(f.content, f.owner.name)) remember(f.owner.name, a);
  }
  for (const link of Object.values(observed.links)) {
    if (link.ns !== HOST) continue;
    const tag = parseAlias('alias' in link ? link.alias : undefined);
    if (!tag?.['net']) continue;
    if (link.kind === 'bridge' && !tag['ctr']) subnets.set(tag['net'], addrsOf(HOST, link.name));
    if (link.kind === 'veth' && tag['ctr']) {
      const held = addrsOf(link.peer.ns, link.peer.name);
      addresses.set(endpointKey(tag['ctr'], tag['net']), held);
      const fromMac = ipv4FromMac(peerMacs.get(`${link.peer.ns}\0${link.peer.name}`) ?? '');
      if (fromMac) remember(tag['ctr'], `${fromMac}/32`);
    }
  }
  for (const link of Object.values(observed.links)) {
    const tag = link.kind === 'macvlan' ? parseAlias(link.alias) : undefined;
    if (tag?.['ctr'] && tag['net']) addresses.set(endpointKey(tag['ctr'], tag['net']), addrsOf(link.ns, link.name));
  }
  return { subnets, addresses, remembered };
}

/** The addresses of a hosts file's lines naming `container` last (its own lines, as hostsFile writes them). Pure. */
function ownHostsAddresses(content: string, container: string): string[] {
  const out: string[] = [];
  for (const line of content.split('\n')) {
    const [addr, ...names] = line.trim().split(/\s+/);
    if (addr && !addr.startsWith('#') && names.at(-1) === container) out.push(`${addr}/${addr.includes(':') ? 128 : 32}`);
  }
  return out;
}

export function emptyAllocations(): Allocations {
  return { subnets: new Map(), addresses: new Map() };
}
