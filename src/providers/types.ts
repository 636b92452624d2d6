import type { IpOp, NftTableRef, NsReadRequest, NsRef, NsSnapshot } from '../kernel/index.js';
import type { AnyEntry, Domain, KernelState, NsKey } from '../state/types.js';
import type { ProgramBuilder } from './program-builder.js';

/** Everything read from the kernel in one observation pass, before it is sorted into domains. */
export interface Observation {
  hostNetns: string;
  host: NsRef;
  hostSnapshot: NsSnapshot;
  /** Container namespaces that exist and were read, by key (a scoped observation: those in its scope). */
  namespaces: Map<NsKey, NsSnapshot>;
  /**
   * A scoped observation (observeScoped): every namespace known, for lookups across namespaces
   * (a host veth's peer); providers iterate `namespaces` only.
   */
  allNamespaces?: ReadonlyMap<NsKey, NsSnapshot>;
  /** A scoped observation without the host in its scope: the host snapshot is there for lookups, its entries are not wanted. */
  hostOutOfScope?: boolean;
  /**
   * The kernel handle of each observed nftables rule, by entry id (a rule is deleted by handle).
   * Kept beside the entries, not in them: desired entries have none. Filled by the nftables
   * provider during the observation pass.
   */
  nftRuleHandles: ReadonlyMap<string, number>;
  /** How each read namespace is entered. */
  nsRefs: Map<NsKey, NsRef>;
  /** Names under /run/netns. */
  netnsNames: Set<string>;
  /** Namespaces weft set out to create and has not tagged yet (Kernel.netnsIntents). */
  netnsIntents: ReadonlySet<string>;
  files: Map<string, string | null>;
  /** Folders under /etc/netns. */
  etcNetnsDirs: string[];
}

export interface ObserveContext {
  desired: KernelState;
  /**
   * Interfaces plugins made inside weft's container namespaces (CNI, Docker remote drivers), by
   * namespace: theirs, not weft's, so their addresses and routes are never weft's to change.
   */
  pluginLinks?: ReadonlyMap<NsKey, ReadonlySet<string>>;
  /** Where the nftables provider puts each observed rule's handle (Observation.nftRuleHandles). */
  nftRuleHandles?: Map<string, number>;
}

export type ChangeAction = 'create' | 'update' | 'delete';

export interface Change<E extends AnyEntry = AnyEntry> {
  action: ChangeAction;
  domain: Domain;
  id: string;
  desired?: E;
  observed?: E;
  /** For updates: the top-level fields that differ. */
  fields: string[];
  /** A delete of an object whose owner is no longer in the manifests. */
  orphan: boolean;
}

export interface RenderContext {
  desired: KernelState;
  observed: KernelState;
  nsRef(key: NsKey): NsRef;
  /** The observed nftables rules' kernel handles, by id (Observation.nftRuleHandles). */
  nftRuleHandles?: ReadonlyMap<string, number>;
}

/** RenderContext as a provider sees it while one program is built: with that program's memo. */
export interface ProgramRenderContext extends RenderContext {
  /** What each provider noted while rendering this program (by domain), so nothing is done twice. */
  memo: Map<string, unknown>;
}

/** How a domain is observed, described and written. One per kernel domain. */
export interface Provider<D extends Domain = Domain> {
  domain: D;
  /** Dependency rank: creates run in ascending rank, deletes in descending rank. */
  rank: number;
  observe(obs: Observation, ctx: ObserveContext): KernelState[D];
  /** A word and a name for plan lines: "bridge br-1a2b3c4d5e6f". */
  describe(entry: KernelState[D][string]): { noun: string; name: string };
  /** Fields that cannot change in place: a difference there deletes and recreates the object. */
  recreateOn: readonly string[];
  render(change: Change<KernelState[D][string]>, out: ProgramBuilder, ctx: ProgramRenderContext): void;
  /** nftables tables this provider reads in a namespace (HOST or a container's); listed in the same pass. */
  nftTables?(ns: NsKey): NftTableRef[];
  /** Tables to list only where a namespace's first read says they may exist (read again with them). */
  nftTablesIf?(ns: NsKey, first: NsSnapshot): NftTableRef[];
  /** Extra tables the host namespace's read includes (neighbours, VXLAN forwarding entries). */
  hostReads?(desired: KernelState): Pick<NsReadRequest, 'neighbours' | 'fdb'>;
}

export type { IpOp };
