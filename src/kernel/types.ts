import type { NsKey } from '../state/types.js';

/**
 * The kernel layer's vocabulary: typed operations to write, typed snapshots read back. The real
 * kernel renders operations into `ip -batch` lines; the fake kernel of the unit tests applies
 * them to an in-memory model. Nothing above this layer knows command syntax.
 */

/** A namespace to act in: its key in the state, and the path to enter it (null: this process's own). */
export interface NsRef {
  key: NsKey;
  path: string | null;
}

/** Human description of the object an operation is for, used in error messages. */
interface Described {
  what: string;
}

export type IpOp = Described &
  (
    | { op: 'link-add-bridge'; name: string; mtu: number }
    | {
        op: 'link-add-veth';
        name: string;
        mtu: number;
        master?: string;
        /** The peer is created directly in its namespace (named netns or pid). */
        peer: { name: string; netns: string; mac: string; mtu: number };
      }
    | {
        op: 'link-set';
        name: string;
        up?: boolean;
        mtu?: number;
        mac?: string;
        master?: string | null;
        alias?: string;
        addrgenmode?: 'none' | 'eui64';
        /** Bridge port hairpin mode (the link must already be enslaved). */
        hairpin?: boolean;
      }
    | {
        op: 'link-add-vxlan';
        name: string;
        mtu: number;
        vni: number;
        local?: string;
        dstport: number;
        learning: boolean;
        proxy: boolean;
      }
    | { op: 'link-add-vlan'; name: string; parent: string; vlanId: number }
    | {
        op: 'link-add-macvlan';
        /** The name inside the target namespace (the name is checked only there). */
        name: string;
        parent: string;
        mode: string;
        mac: string;
        mtu: number;
        /** Created straight into this namespace (named netns or pid), as for veth peers. */
        netns: string;
      }
    | { op: 'link-del'; name: string }
    | {
        op: 'link-move';
        /** A link another program made (a Docker plugin's SrcName), moved into `netns` and renamed `newName` there. */
        name: string;
        netns: string;
        newName: string;
      }
    | { op: 'neigh-replace'; dev: string; address: string; lladdr: string; proto: number }
    | { op: 'neigh-del'; dev: string; address: string }
    | {
        /** addr-replace sets the flags of an address that exists (adds it otherwise). */
        op: 'addr-add' | 'addr-replace' | 'addr-del';
        dev: string;
        cidr: string;
        /** IPv6: usable at once, without duplicate-address detection (IFA_F_NODAD). */
        nodad?: boolean;
      }
    | { op: 'route-replace' | 'route-del'; family: 4 | 6; dst: string; via?: string; dev: string; proto: number }
  );

/** A `bridge -batch` operation on a VXLAN device's forwarding table. */
export type FdbOp = Described & { op: 'fdb-append' | 'fdb-del'; dev: string; mac: string; dst: string };

export interface SysctlWrite {
  path: string;
  value: string;
  /**
   * Written before the namespace's ip operations: a setting of an interface that already exists
   * (created from the host namespace) and must hold before it comes up (accept_dad, accept_ra).
   */
  early?: boolean;
}

/** An nftables table, as `nft list table FAMILY NAME` names it. */
export interface NftTableRef {
  family: 'ip' | 'ip6' | 'inet' | 'bridge' | 'arp' | 'netdev';
  name: string;
}

/** Everything to do inside one namespace, run as one process. */
export interface NsWork {
  ns: NsRef;
  ip: IpOp[];
  /** `bridge -batch` lines, run after the ip operations (they name VXLAN devices those create). */
  fdb?: FdbOp[];
  /** Written after the ip operations (they may name interfaces those create). */
  sysctls: SysctlWrite[];
  /**
   * nftables commands in JSON (the elements of {"nftables": [...]}), loaded after the sysctls
   * with one `nft -j -f` run: one atomic transaction.
   */
  nft: unknown[];
  /**
   * Read the namespace back right after writing it, in the same process: verification then needs
   * no process of its own for it. A kernel may ignore this; the namespace is then read as usual.
   */
  readBack?: NsReadSpec;
}

export interface FileWork {
  write: { path: string; content: string }[];
  remove: string[];
  /** Folders removed if empty after the removals (/etc/netns/<name>). */
  removeDirs: string[];
}

/** One apply's kernel writes, in the order they must happen. */
export interface KernelProgram {
  netnsDelete: string[];
  netnsAdd: string[];
  /** The host namespace's work, before any container namespace's (veths are created from here). */
  host: NsWork;
  /**
   * Container-namespace work that must run before the host's: removing an interface that the host
   * namespace creates again under the same name (a macvlan whose parent or mode changed).
   */
  early?: NsWork[];
  /** Container namespaces, independent of each other: run with bounded concurrency. */
  containers: NsWork[];
  files: FileWork;
  /** Host links that vanish asynchronously (veths of deleted namespaces): wait for them. */
  awaitGone: { ns: NsRef; links: string[] }[];
}

export function emptyProgram(host: NsRef): KernelProgram {
  return {
    netnsDelete: [],
    netnsAdd: [],
    host: { ns: host, ip: [], sysctls: [], nft: [] },
    containers: [],
    files: { write: [], remove: [], removeDirs: [] },
    awaitGone: [],
  };
}

/** Kernel write operations in one namespace's work. */
export function workWrites(w: NsWork): number {
  return w.ip.length + (w.fdb ?? []).length + w.sysctls.length + w.nft.length;
}

export function programIsEmpty(p: KernelProgram): boolean {
  return (
    p.netnsDelete.length === 0 &&
    p.netnsAdd.length === 0 &&
    [p.host, ...(p.early ?? []), ...p.containers].every((w) => workWrites(w) === 0) &&
    p.files.write.length === 0 &&
    p.files.remove.length === 0 &&
    p.files.removeDirs.length === 0
  );
}

// ---- snapshots ----

export interface KLink {
  ifindex: number;
  name: string;
  /** info_kind: bridge, veth, vxlan, macvlan; undefined for loopback and physical devices. */
  kind?: string;
  alias?: string;
  /**
   * Set by ownership (never by a kernel): the link has no alias in the kernel, and `alias` is
   * the tag weft proved it should carry (a crash before tagging); the tag is still to be written.
   */
  untagged?: boolean;
  mtu: number;
  mac: string;
  up: boolean;
  master?: string;
  /** For veths: the peer's ifindex and the nsid it lives in (as seen from this namespace). */
  linkIndex?: number;
  linkNetnsId?: number;
  addrgenmode?: string;
  /** Raw info_data / info_slave_data for drivers that need more (vxlan, macvlan, bridge ports). */
  info?: Record<string, unknown>;
  slaveInfo?: Record<string, unknown>;
}

export interface KAddr {
  dev: string;
  family: 4 | 6;
  local: string;
  prefixlen: number;
  scope: string;
  /** IPv6: added without duplicate-address detection (IFA_F_NODAD). */
  nodad?: boolean;
}

export interface KRoute {
  family: 4 | 6;
  dst: string;
  gateway?: string;
  dev?: string;
  protocol: string;
  table: string;
  type: string;
}

/** A neighbour entry (`ip -j neigh show`). */
export interface KNeigh {
  dev: string;
  address: string;
  lladdr?: string;
  state: string[];
  protocol?: string;
}

/** A forwarding entry of a VXLAN device (`bridge -j fdb show dev X`, self entries). */
export interface KFdb {
  dev: string;
  mac: string;
  dst?: string;
  flags: string[];
  state?: string;
}

export interface NsSnapshot {
  links: KLink[];
  addresses: KAddr[];
  routes: KRoute[];
  /** Read only when asked for (NsReadRequest.neighbours). */
  neighbours?: KNeigh[];
  /** Entries of the namespace's VXLAN devices; read only when asked for (NsReadRequest.fdb). */
  fdb?: KFdb[];
  /** path -> value, null where the file does not exist (e.g. the interface is gone). */
  sysctls: Record<string, string | null>;
  /**
   * "family name" -> the objects of `nft -j list table` (metainfo dropped), or null when the
   * table does not exist (a missing table is an empty one).
   */
  nft: Record<string, unknown[] | null>;
}

export interface NsReadRequest {
  ns: NsRef;
  sysctls: string[];
  nftTables?: NftTableRef[];
  /** Also read neighbour entries (ip neigh show). */
  neighbours?: boolean;
  /** Also read the forwarding entries of every VXLAN device. */
  fdb?: boolean;
}

/** What to read in a namespace, wherever it is. */
export type NsReadSpec = Omit<NsReadRequest, 'ns'>;

/** Snapshots read back right after writing (NsWork.readBack), by namespace key. */
export type ReadBack = Map<string, NsSnapshot>;

export function nftTableKey(t: NftTableRef): string {
  return `${t.family} ${t.name}`;
}

export type ProgressFn = (done: number, total: number) => void;

/** Counters for benchmarks and tests: what a reconcile cost the kernel. */
export interface KernelStats {
  processes: number;
  writes: number;
}

/** The kernel as the rest of weft sees it. Only implementations of this touch the system. */
export interface Kernel {
  readonly stats: KernelStats;
  /** Names of the namespaces under /run/netns. */
  listNetns(): Promise<string[]>;
  /** Reads namespaces (bounded concurrency); null for a namespace that does not exist. */
  readNamespaces(reqs: readonly NsReadRequest[]): Promise<Map<string, NsSnapshot | null>>;
  /** Reads files; null where missing. */
  readFiles(paths: readonly string[]): Promise<Map<string, string | null>>;
  /** Lists the entries of a folder (empty if missing). */
  listDir(path: string): Promise<string[]>;
  /**
   * Names of the namespaces weft set out to create and has not tagged yet (see
   * kernel/netns-intents.ts). A kernel without it has none: untagged namespaces are then
   * adopted only on the evidence of weft's veths.
   */
  netnsIntents?(): Promise<Set<string>>;
  /**
   * Runs a program. Throws KernelError naming the object and the command that failed.
   * `progress` is called as namespaces are done (for a progress line on large applies). Returns the
   * snapshots of the namespaces it could read back (NsWork.readBack), if any.
   */
  run(program: KernelProgram, progress?: ProgressFn): Promise<ReadBack | void>;
  /**
   * A UDP and a listening TCP socket bound to address:port inside the namespace at `path`, made on
   * the namespace worker (the calling thread never moves), as descriptors this process owns: hand
   * them to Node (dgram bind({fd}), net listen({fd})). Null when the namespace does not exist.
   * Used by the embedded DNS (src/dns); a kernel without it cannot serve it.
   */
  openDnsSockets?(path: string, address: string, port: number): Promise<NsSockets | null>;
}

/** Descriptors opened inside a namespace, and that namespace's nsfs identity (device:inode of its file). */
export interface NsSockets {
  udp: number;
  tcp: number;
  key: string;
}
