/**
 * The one shape of desired and observed kernel state: plain JSON, one record per domain, keyed by
 * stable ids. compile produces it, providers observe it, fast-json-patch diffs the two.
 * Namespaces are referred to by key: HOST for the host namespace (the one --host-netns names),
 * otherwise the container namespace's name.
 */

export const HOST = '@host';
export type NsKey = string;

/** Who an object belongs to; deleting an owner from the manifests makes its objects orphans. */
export interface Owner {
  kind: 'container' | 'network' | 'host';
  name: string;
}

export interface NetnsEntry {
  name: string;
  owner: Owner;
}

interface LinkBase {
  ns: NsKey;
  name: string;
  owner: Owner;
}

export interface BridgeEntry extends LinkBase {
  kind: 'bridge';
  alias: string;
  mtu: number;
  up: boolean;
}

export interface VethEntry extends LinkBase {
  kind: 'veth';
  alias: string;
  mtu: number;
  up: boolean;
  master?: string;
  /** Where the other end lives; it is created there directly (no costly move between namespaces). */
  peer: { ns: NsKey; name: string };
}

/** The container end of a veth pair. Created with its host end; these are its own settings. */
export interface VethPeerEntry extends LinkBase {
  kind: 'veth-peer';
  mac: string;
  mtu: number;
  up: boolean;
  /** "none" keeps IPv6 link-local addresses (and their multicast floods) off IPv4-only endpoints. */
  addrgenmode: 'none' | 'eui64';
}

export interface LoopbackEntry extends LinkBase {
  kind: 'loopback';
  up: boolean;
  /** Marks the namespace as weft's: "weft:ctr=<container>;host=<host key>". */
  alias: string;
}

export type LinkEntry = BridgeEntry | VethEntry | VethPeerEntry | LoopbackEntry;

export interface AddressEntry {
  ns: NsKey;
  dev: string;
  /** address/prefix, canonical text */
  cidr: string;
  owner: Owner;
}

export interface RouteEntry {
  ns: NsKey;
  /** "default" or a CIDR */
  dst: string;
  family: 4 | 6;
  via?: string;
  dev: string;
  owner: Owner;
}

export interface SysctlEntry {
  ns: NsKey;
  /** Path under /proc/sys, e.g. "net/ipv4/ip_forward". */
  path: string;
  /** The interface a per-interface setting belongs to: recreating the interface resets it. */
  dev?: string;
  value: string;
  owner: Owner;
}

export interface FileEntry {
  path: string;
  content: string;
  owner: Owner;
}

/**
 * The nftables table in a container namespace that sends DNS for 127.0.0.11 to the embedded
 * server on a gateway address (DNAT, masquerade of the loopback source). Chains and rules are
 * nft JSON as `nft -j list table` shows them, without handles.
 */
export interface DnsRedirectEntry {
  ns: NsKey;
  /** Where queries go: the gateway address the DNS server listens on. */
  gateway: string;
  chains: Record<string, unknown>[];
  rules: Record<string, unknown>[];
  owner: Owner;
}

export interface KernelState {
  netns: Record<string, NetnsEntry>;
  links: Record<string, LinkEntry>;
  addresses: Record<string, AddressEntry>;
  routes: Record<string, RouteEntry>;
  sysctls: Record<string, SysctlEntry>;
  files: Record<string, FileEntry>;
  dnsRedirects: Record<string, DnsRedirectEntry>;
}

export type Domain = keyof KernelState;
export type EntryOf<D extends Domain> = KernelState[D][string];
export type AnyEntry = EntryOf<Domain>;

export function emptyState(): KernelState {
  return { netns: {}, links: {}, addresses: {}, routes: {}, sysctls: {}, files: {}, dnsRedirects: {} };
}

/** Stable ids: the keys of each domain's record. */
export const ids = {
  netns: (name: string) => name,
  link: (ns: NsKey, name: string) => `${ns}/${name}`,
  address: (ns: NsKey, dev: string, cidr: string) => `${ns}/${dev}/${cidr}`,
  route: (ns: NsKey, family: 4 | 6, dst: string) => `${ns}/${family === 6 && dst === 'default' ? 'default6' : dst}`,
  sysctl: (ns: NsKey, path: string) => `${ns}/${path}`,
  file: (path: string) => path,
  dnsRedirect: (ns: NsKey) => ns,
};

export function ownerKey(o: Owner): string {
  return `${o.kind}/${o.name}`;
}
