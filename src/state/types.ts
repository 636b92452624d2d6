/**
 * The one shape of desired and observed kernel state: plain JSON, one record per domain, keyed by
 * stable ids. compile produces it, providers observe it, fast-json-patch diffs the two.
 * Namespaces are referred to by key: HOST for the host namespace (the one --host-netns names),
 * otherwise the container namespace's name.
 */

import { exprText } from '../nft/expr.js';
import type { NftChainType, NftDataType, NftExpr, NftFamily, NftHook, NftPolicy, NftSetFlag, NftStatement } from '../nft/types.js';

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
  /** Bridge port hairpin mode (set only when on): frames may leave through the port they came in. */
  hairpin?: boolean;
  /** "none" on IPv4-only networks: no link-local address, no router solicitations and their events. */
  addrgenmode: 'none' | 'eui64';
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

/** An overlay network's VXLAN device in the host namespace (a port of the network's bridge). */
export interface VxlanEntry extends LinkBase {
  kind: 'vxlan';
  alias: string;
  mtu: number;
  up: boolean;
  master?: string;
  vni: number;
  /** This host's underlay (VTEP) address; absent when no Host is declared (a single-host overlay). */
  local?: string;
  dstport: number;
  /** Always false: remote endpoints are programmed statically. Set only at creation. */
  learning: boolean;
  /** Always true: the device answers ARP/ND from its neighbour table. Set only at creation. */
  proxy: boolean;
  /**
   * "none" on IPv6 overlays: IPv6 stays on (its neighbour entries answer neighbour discovery)
   * but the device has no link-local address, so it sends no router solicitations to the peers.
   */
  addrgenmode?: 'none';
}

/** An 802.1q sub-interface weft created for a macvlan network's parent (eth0.50). */
export interface VlanEntry extends LinkBase {
  kind: 'vlan';
  alias: string;
  up: boolean;
  parent: string;
  vlanId: number;
}

/**
 * A container's macvlan interface. It lives in the container's namespace but is created from the
 * host namespace (where its parent is), straight into the container's namespace.
 */
export interface MacvlanEntry extends LinkBase {
  kind: 'macvlan';
  alias: string;
  /** The parent interface in the host namespace. */
  parent: string;
  mode: 'bridge' | 'private' | 'vepa' | 'passthru';
  mac: string;
  mtu: number;
  up: boolean;
  addrgenmode: 'none' | 'eui64';
}

export type LinkEntry = BridgeEntry | VethEntry | VethPeerEntry | LoopbackEntry | VxlanEntry | VlanEntry | MacvlanEntry;

export interface AddressEntry {
  ns: NsKey;
  dev: string;
  /** address/prefix, canonical text */
  cidr: string;
  /** IPv6: added without duplicate-address detection, usable at once (IFA_F_NODAD). */
  nodad?: boolean;
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
 * A static forwarding entry on a VXLAN device (bridge fdb ... self permanent): a remote MAC, or
 * 00:00:00:00:00:00 for broadcast, sent to a peer's underlay address. Owned through its device.
 */
export interface FdbEntry {
  ns: NsKey;
  dev: string;
  mac: string;
  dst: string;
  owner: Owner;
}

/** A permanent neighbour entry (IP -> MAC) on a VXLAN device, tagged with protocol 250. */
export interface NeighEntry {
  ns: NsKey;
  dev: string;
  address: string;
  lladdr: string;
  owner: Owner;
}

interface NftBase {
  ns: NsKey;
  family: NftFamily;
  owner: Owner;
}

/** An nftables table weft owns entirely (its name says so: "weft", "weft_dns"). */
export interface NftTableEntry extends NftBase {
  kind: 'table';
  name: string;
}

export interface NftChainEntry extends NftBase {
  kind: 'chain';
  table: string;
  name: string;
  /** Base chains: where they hook in. Regular chains (jump targets) have none. */
  base?: { type: NftChainType; hook: NftHook; prio: number; policy: NftPolicy };
}

/** A named set, or a map when `map` gives the value type. Its elements are entries of their own. */
export interface NftSetEntry extends NftBase {
  kind: 'set';
  table: string;
  name: string;
  type: NftDataType[];
  map?: NftDataType;
  flags?: NftSetFlag[];
}

/** One element of a set (or map: `value`); the kernel keeps its owner in the element's comment. */
export interface NftElementEntry extends NftBase {
  kind: 'element';
  table: string;
  set: string;
  key: NftExpr;
  value?: NftExpr;
}

/**
 * A rule, named within its chain. Rules of one chain must not depend on their order: a rule that
 * is missing is put back by rebuilding its chain.
 */
export interface NftRuleEntry extends NftBase {
  kind: 'rule';
  table: string;
  chain: string;
  name: string;
  expr: NftStatement[];
}

export type NftEntry = NftTableEntry | NftChainEntry | NftSetEntry | NftElementEntry | NftRuleEntry;

export interface KernelState {
  netns: Record<string, NetnsEntry>;
  links: Record<string, LinkEntry>;
  addresses: Record<string, AddressEntry>;
  routes: Record<string, RouteEntry>;
  sysctls: Record<string, SysctlEntry>;
  files: Record<string, FileEntry>;
  fdb: Record<string, FdbEntry>;
  neigh: Record<string, NeighEntry>;
  nftables: Record<string, NftEntry>;
}

export type Domain = keyof KernelState;
export type EntryOf<D extends Domain> = KernelState[D][string];
export type AnyEntry = EntryOf<Domain>;

export function emptyState(): KernelState {
  return { netns: {}, links: {}, addresses: {}, routes: {}, sysctls: {}, files: {}, nftables: {}, fdb: {}, neigh: {} };
}

/** Stable ids: the keys of each domain's record. */
export const ids = {
  netns: (name: string) => name,
  link: (ns: NsKey, name: string) => `${ns}/${name}`,
  address: (ns: NsKey, dev: string, cidr: string) => `${ns}/${dev}/${cidr}`,
  route: (ns: NsKey, family: 4 | 6, dst: string) => `${ns}/${family === 6 && dst === 'default' ? 'default6' : dst}`,
  sysctl: (ns: NsKey, path: string) => `${ns}/${path}`,
  file: (path: string) => path,
  fdb: (ns: NsKey, dev: string, mac: string, dst: string) => `${ns}/${dev}/${mac}/${dst}`,
  neigh: (ns: NsKey, dev: string, address: string) => `${ns}/${dev}/${address}`,
  nftTable: (ns: NsKey, family: NftFamily, table: string) => `${ns}/${family} ${table}`,
  /** "@host/inet weft/chain forward/rule isolate", "@host/inet weft/set bridges/docker0". */
  nft: (e: NftEntry): string => {
    const t = ids.nftTable(e.ns, e.family, e.kind === 'table' ? e.name : e.table);
    switch (e.kind) {
      case 'table':
        return t;
      case 'chain':
        return `${t}/chain ${e.name}`;
      case 'rule':
        return `${t}/chain ${e.chain}/rule ${e.name}`;
      case 'set':
        return `${t}/set ${e.name}`;
      case 'element':
        return `${t}/set ${e.set}/${exprText(e.key)}`;
    }
  },
};

export function ownerKey(o: Owner): string {
  return `${o.kind}/${o.name}`;
}
