import type { PeerEndpoint, Topology } from '../compile/index.js';
import type { Model } from '../model/index.js';
import type { Cidr } from '../net/cidr.js';
import { contains, parseCidr, parseIp } from '../net/cidr.js';

/**
 * The membership store as a trust boundary. Anyone who can write to the store can publish
 * "endpoints"; weft programs FDB and neighbour entries and DNS records from them as root on every
 * node. So an endpoint is used only when the manifests (the trusted source) vouch for it:
 *
 * - its node is a Host the manifests declare, with exactly the underlay address declared there
 *   (else a writer could make itself a VXLAN destination of every overlay network);
 * - its network is an overlay (global) network the manifests declare, and that host is on it:
 *   the Host's `networks` when it lists them (else every overlay network), and any network a
 *   manifest container placed on the host (or on every host: no `host`) is on;
 * - every field is well formed: container name as the manifests' rule, aliases as RFC 1123
 *   host names, a unicast MAC, addresses inside the network's subnets (not its gateway);
 * - it takes no name a manifest container has (unless it is that container, on its own host),
 *   no alias shadows a container's name, and no address or MAC another endpoint already holds;
 * - at most MAX_ENDPOINTS_PER_HOST per host.
 *
 * Pure: no I/O. Works on endpoints from any store (etcd, ZooKeeper), after they were decoded.
 */

export const MAX_ENDPOINTS_PER_HOST = 1024;
/** Docker has no limit; far more than any real container needs, small enough to bound DNS work. */
export const MAX_ALIASES = 32;

/** Why an endpoint was not used; the `reason` label of weft_store_endpoints_rejected_total. */
export type RejectReason =
  | 'malformed'
  | 'undeclared_host'
  | 'node_address'
  | 'network'
  | 'name'
  | 'name_taken'
  | 'alias'
  | 'mac'
  | 'address'
  | 'address_taken'
  | 'limit';

export const REJECT_REASONS: readonly RejectReason[] = [
  'malformed',
  'undeclared_host',
  'node_address',
  'network',
  'name',
  'name_taken',
  'alias',
  'mac',
  'address',
  'address_taken',
  'limit',
];

export interface Rejection {
  reason: RejectReason;
  /** What is wrong, for the log line (constant per reason, with the value that failed). */
  detail: string;
  node?: string;
  network?: string;
  container?: string;
  /** The store key, when known (malformed values). */
  key?: string;
}

/** What the manifests say the store may contain. */
export interface StoreTrust {
  /** Host name -> its declared underlay address (canonical bigint form, as text). */
  hosts: ReadonlyMap<string, string>;
  /** Global network name -> its subnets and gateways. */
  networks: ReadonlyMap<string, { subnets: Cidr[]; gateways: Set<string> }>;
  /** Host name -> the global networks it is on; `*` holds the networks every host is on. */
  hostNetworks: ReadonlyMap<string, ReadonlySet<string>>;
  /** Manifest container name (lower case) -> the host it runs on ('' for every host) and its networks. */
  containers: ReadonlyMap<string, { host: string; networks: ReadonlySet<string> }>;
  /** Lower-case names manifest containers answer to on each network (aliases). */
  aliases: ReadonlyMap<string, ReadonlySet<string>>;
  maxPerHost: number;
}

const EVERY_HOST = '*';

/** The trust rules from the manifests (model) and a compile of them (network pools). Pure. */
export function storeTrust(model: Model, topology: Topology, maxPerHost = MAX_ENDPOINTS_PER_HOST): StoreTrust {
  const hosts = new Map<string, string>();
  for (const h of model.hosts.values()) hosts.set(h.name, canonical(h.address));
  const networks = new Map<string, { subnets: Cidr[]; gateways: Set<string> }>();
  for (const [name, net] of topology.networks) {
    if (net.driver.scope !== 'global') continue;
    const pools = [...net.pools.v4, ...net.pools.v6];
    networks.set(name, {
      subnets: pools.map((p) => p.subnet),
      gateways: new Set(pools.map((p) => `${p.subnet.family}|${p.gateway}`)),
    });
  }
  const hostNetworks = new Map<string, Set<string>>();
  const containers = new Map<string, { host: string; networks: Set<string> }>();
  const aliases = new Map<string, Set<string>>();
  for (const c of model.containers.values()) {
    const host = c.host ?? '';
    const nets = new Set(c.endpoints.map((e) => e.network));
    containers.set(c.name.toLowerCase(), { host, networks: nets });
    for (const e of c.endpoints) {
      if (!networks.has(e.network)) continue;
      const key = host === '' ? EVERY_HOST : host;
      const set = hostNetworks.get(key) ?? new Set<string>();
      set.add(e.network);
      hostNetworks.set(key, set);
      const names = aliases.get(e.network) ?? new Set<string>();
      for (const a of e.aliases) names.add(a.toLowerCase());
      aliases.set(e.network, names);
    }
  }
  // A Host's own list, where it gives one; else every overlay network (the store exists for
  // containers the manifests do not list, so their networks cannot come from those).
  for (const h of model.hosts.values()) {
    const declared = h.networks ? h.networks.filter((n) => networks.has(n)) : [...networks.keys()];
    hostNetworks.set(h.name, new Set([...(hostNetworks.get(h.name) ?? []), ...declared]));
  }
  return { hosts, networks, hostNetworks, containers, aliases, maxPerHost };
}

/** Docker's rule for container names (as the manifests'), at most one DNS label long. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
/** RFC 1123 host name label. */
const LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
/** A unicast MAC (the multicast bit of the first octet clear), lower or upper case hex. */
const MAC = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;

/** RFC 1123 host name: dot-separated labels, at most 253 characters. */
export function isHostname(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
}

/** A unicast, non-zero MAC address written as six colon-separated hex octets. */
export function isUnicastMac(mac: string): boolean {
  if (!MAC.test(mac)) return false;
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) return false;
  return mac !== '00:00:00:00:00:00';
}

/**
 * Splits endpoints into those the manifests vouch for and the rejected ones, with why. Endpoints
 * are judged in a stable order (node, network, container), so which of two clashing ones wins
 * does not depend on the store's order. Pure.
 */
export function admitEndpoints(endpoints: readonly PeerEndpoint[], trust: StoreTrust): { accepted: PeerEndpoint[]; rejected: Rejection[] } {
  const rejected: Rejection[] = [];
  const sorted = [...endpoints].sort((a, b) => cmp(a.node, b.node) || cmp(a.network, b.network) || cmp(a.container, b.container));
  // 1. Each endpoint on its own, against the manifests.
  const wellFormed = sorted.filter((e) => {
    const problem = checkEndpoint(e, trust);
    if (problem) rejected.push(rejection(e, problem));
    return !problem;
  });
  // 2. No alias shadows the name of another container, of the manifests or of the store; checked
  // before anything is claimed, so a shadowing endpoint takes no address from a valid one.
  const storeNames = new Set(wellFormed.map((e) => e.container.toLowerCase()));
  const unshadowed = wellFormed.filter((e) => {
    const own = e.container.toLowerCase();
    const shadow = e.aliases.find((a) => {
      const lower = a.toLowerCase();
      return lower !== own && (trust.containers.has(lower) || storeNames.has(lower));
    });
    if (shadow !== undefined) rejected.push(rejection(e, ['alias', `alias ${JSON.stringify(clip(shadow))} shadows a container's name`]));
    return shadow === undefined;
  });
  // 3. What can be held once: a container name (by one node), an address and a MAC per network;
  // and a bounded number per host. The first in the stable order keeps it.
  const accepted: PeerEndpoint[] = [];
  const perHost = new Map<string, number>();
  const held = new Set<string>();
  const names = new Map<string, string>();
  for (const e of unshadowed) {
    const n = (perHost.get(e.node) ?? 0) + 1;
    if (n > trust.maxPerHost) {
      rejected.push(rejection(e, ['limit', `more than ${trust.maxPerHost} endpoints from one host`]));
      continue;
    }
    const claims = [e.ipv4, e.ipv6]
      .filter((a): a is string => a !== undefined)
      .map((a) => `${e.network}|${canonical(a.slice(0, a.indexOf('/')))}`)
      .concat(`${e.network}|${e.mac.toLowerCase()}`);
    if (claims.some((c) => held.has(c))) {
      rejected.push(rejection(e, ['address_taken', 'an address or MAC another store endpoint holds on this network']));
      continue;
    }
    // One container name, one node (as compile's planPeers: the first node by name keeps it).
    const owner = names.get(e.container.toLowerCase());
    if (owner !== undefined && owner !== e.node) {
      rejected.push(rejection(e, ['name_taken', 'a container name another host published']));
      continue;
    }
    perHost.set(e.node, n);
    for (const c of claims) held.add(c);
    names.set(e.container.toLowerCase(), e.node);
    accepted.push(e);
  }
  return { accepted, rejected };
}

type Problem = [RejectReason, string];

function checkEndpoint(e: PeerEndpoint, trust: StoreTrust): Problem | undefined {
  const declared = trust.hosts.get(e.node);
  if (declared === undefined) return ['undeclared_host', 'the node is not a Host in the manifests'];
  if (canonical(e.nodeAddress) !== declared || parseIp(e.nodeAddress) === undefined) {
    return ['node_address', `node address ${JSON.stringify(clip(e.nodeAddress))} is not the Host's declared address`];
  }
  const net = trust.networks.get(e.network);
  if (!net) return ['network', 'not an overlay network in the manifests'];
  if (!trust.hostNetworks.get(e.node)?.has(e.network) && !trust.hostNetworks.get(EVERY_HOST)?.has(e.network)) {
    return ['network', 'the Host runs no container on this network in the manifests'];
  }
  if (!CONTAINER_NAME.test(e.container)) return ['name', `container name ${JSON.stringify(clip(e.container))} is not a valid name (at most 63 characters)`];
  const known = trust.containers.get(e.container.toLowerCase());
  if (known && !((known.host === e.node || known.host === '') && known.networks.has(e.network))) {
    return ['name_taken', 'a container of the manifests has this name'];
  }
  if (!known && trust.aliases.get(e.network)?.has(e.container.toLowerCase())) return ['name_taken', 'a container of the manifests answers to this name'];
  if (!Array.isArray(e.aliases) || e.aliases.length > MAX_ALIASES) return ['alias', `more than ${MAX_ALIASES} aliases`];
  const bad = e.aliases.find((a) => !isHostname(a));
  if (bad !== undefined) return ['alias', `alias ${JSON.stringify(clip(bad))} is not an RFC 1123 host name`];
  if (!isUnicastMac(e.mac)) return ['mac', `MAC ${JSON.stringify(clip(e.mac))} is not a unicast MAC address`];
  if (e.ipv4 === undefined && e.ipv6 === undefined) return ['address', 'no address'];
  for (const [text, family] of [[e.ipv4, 4], [e.ipv6, 6]] as const) {
    if (text === undefined) continue;
    const a = parseCidr(text);
    if (!a || a.family !== family) return ['address', `address ${JSON.stringify(clip(text))} is not an IPv${family} address/prefix`];
    const subnet = net.subnets.find((s) => s.family === family && contains(s, family, a.address));
    if (!subnet || subnet.prefix !== a.prefix) return ['address', `address ${text} is not inside the network's subnets`];
    if (net.gateways.has(`${family}|${a.address}`) || a.address === subnet.base) return ['address', `address ${text} is the network's own`];
  }
  return undefined;
}

function rejection(e: PeerEndpoint, [reason, detail]: Problem): Rejection {
  return { reason, detail, node: clip(e.node), network: clip(e.network), container: clip(e.container) };
}

/** Hostile values can be long or hold control characters: logs keep their start, escaped. */
export function clip(text: string, max = 80): string {
  const head = text.length > max ? `${text.slice(0, max)}...` : text;
  let out = '';
  for (const ch of head) {
    const code = ch.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}

function canonical(address: string): string {
  const ip = parseIp(address);
  return ip ? `${ip.family}|${ip.value}` : `?${address}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
