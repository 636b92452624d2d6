import { netnsName, parseAlias } from '../naming.js';
import type { KLink, Kernel, NsReadRequest, NsReadSpec, NsRef, NsSnapshot, ReadBack } from '../kernel/index.js';
import { nftTableKey } from '../kernel/index.js';
import type { KernelState, NsKey } from '../state/types.js';
import { HOST, emptyState } from '../state/types.js';
import { filterToScope } from '../state/slice.js';
import { claimUntaggedLinks } from './claim.js';
import { ETC_NETNS, fileNames } from './files.js';
import type { Observation, ObserveContext, Provider } from './types.js';

export interface ObserveRequest {
  hostNetns: string;
  host: NsRef;
  desired: KernelState;
  /** How to enter the namespaces the desired state names (created or attached). */
  nsRefs: Map<NsKey, NsRef>;
  providers: readonly Provider[];
  /**
   * Reuse an earlier observation: only the namespaces in `fresh` (HOST for the host) are read
   * again; the others keep their earlier snapshot if it covers what is asked now. Used to verify
   * an apply (only written namespaces can have changed) and by the daemon (only what events name).
   * `readBack` holds fresh snapshots the apply took right after writing (Kernel.run).
   */
  reuse?: { observation: Observation; fresh: ReadonlySet<NsKey>; readBack?: ReadBack };
  /** Interfaces plugins made in container namespaces (ObserveContext.pluginLinks). */
  pluginLinks?: ReadonlyMap<NsKey, ReadonlySet<string>>;
}

// Desired sysctl paths per namespace, indexed once per desired state (readSpec runs per namespace).
const sysctlIndex = new WeakMap<KernelState['sysctls'], Map<NsKey, string[]>>();

/** What observing a namespace reads besides links, addresses and routes: desired sysctls, providers' tables. */
export function readSpec(desired: KernelState, providers: readonly Provider[], key: NsKey): NsReadSpec {
  let index = sysctlIndex.get(desired.sysctls);
  if (!index) {
    index = new Map();
    for (const s of Object.values(desired.sysctls)) {
      const paths = index.get(s.ns);
      if (paths) paths.push(s.path);
      else index.set(s.ns, [s.path]);
    }
    sysctlIndex.set(desired.sysctls, index);
  }
  return { sysctls: [...(index.get(key) ?? [])], nftTables: providers.flatMap((p) => p.nftTables?.(key) ?? []) };
}

/**
 * One observation pass: lists namespaces, reads the host and every candidate container namespace
 * (one process each, bounded concurrency) and the /etc/netns files, then lets each provider pick
 * out what it owns. Read-only.
 */
export async function observe(kernel: Kernel, req: ObserveRequest): Promise<{ observation: Observation; observed: KernelState }> {
  const [names, netnsIntents] = await Promise.all([kernel.listNetns().then((n) => new Set(n)), kernel.netnsIntents?.() ?? new Set<string>()]);
  const prefix = req.hostNetns ? `${req.hostNetns}-` : '';
  const candidates = new Map<NsKey, NsRef>();
  for (const n of names) {
    if (n !== req.hostNetns && n.startsWith(prefix)) candidates.set(n, { key: n, path: `/run/netns/${n}` });
  }
  for (const [key, ref] of req.nsRefs) {
    // Named namespaces are read only if they exist; attached ones (a /proc path) are tried as given.
    const named = ref.path?.startsWith('/run/netns/') ?? false;
    if (!named || names.has(ref.path!.slice('/run/netns/'.length))) candidates.set(key, ref);
  }
  const spec = (key: NsKey) => readSpec(req.desired, req.providers, key);
  const hostRead: NsReadRequest = { ns: req.host, ...spec(HOST), ...hostExtras(req.desired, req.providers) };
  const wanted: NsReadRequest[] = [hostRead, ...[...candidates.values()].map((ns) => ({ ns, ...spec(ns.key) }))];
  const snapshots = await snapshotsOf(kernel, wanted, req.reuse, req.providers);
  const hostFound = snapshots.get(HOST);
  if (!hostFound) throw new Error(`the host namespace ${req.hostNetns || '(root)'} cannot be read; does it exist?`);

  const etcNetnsDirs = (await kernel.listDir(ETC_NETNS)).filter((d) => d !== req.hostNetns && d.startsWith(prefix));
  const filePaths = new Set<string>(Object.keys(req.desired.files));
  for (const d of etcNetnsDirs) for (const f of fileNames) filePaths.add(`${ETC_NETNS}/${d}/${f}`);
  // Files are cheap to read, but a pure re-sort (no fresh namespaces) reuses them too.
  const previous = req.reuse && req.reuse.fresh.size === 0 ? req.reuse.observation.files : undefined;
  const files = new Map<string, string | null>();
  const toRead = [...filePaths].filter((f) => {
    const known = previous?.get(f);
    if (known !== undefined) files.set(f, known);
    return known === undefined;
  });
  for (const [k, v] of await kernel.readFiles(toRead)) files.set(k, v);

  const read = new Map<NsKey, NsSnapshot>();
  const nsRefs = new Map<NsKey, NsRef>();
  for (const [key, ref] of candidates) {
    const snap = snapshots.get(key);
    if (snap) {
      read.set(key, snap);
      nsRefs.set(key, ref);
    }
  }
  const { hostSnapshot, namespaces } = claimUntaggedLinks(hostFound, read, req.desired);
  const nftRuleHandles = new Map<string, number>();
  const observation: Observation = {
    hostNetns: req.hostNetns,
    host: req.host,
    hostSnapshot,
    namespaces,
    nsRefs,
    netnsNames: names,
    netnsIntents,
    files,
    etcNetnsDirs,
    nftRuleHandles,
  };
  const observed = observeAll(req.providers, observation, { desired: req.desired, nftRuleHandles, ...(req.pluginLinks ? { pluginLinks: req.pluginLinks } : {}) });
  return { observation, observed };
}

/** Every provider's domain, picked out of one observation (one context: their shared answers are memoized on it). */
function observeAll(providers: readonly Provider[], observation: Observation, ctx: ObserveContext): KernelState {
  const observed = emptyState();
  for (const p of providers) (observed as unknown as Record<string, unknown>)[p.domain] = p.observe(observation, ctx);
  return observed;
}

/** The snapshot of every wanted namespace: reused where an earlier one holds what is asked, read otherwise. */
async function snapshotsOf(kernel: Kernel, wanted: readonly NsReadRequest[], reuse: ObserveRequest['reuse'], providers: readonly Provider[]): Promise<Map<NsKey, NsSnapshot | null>> {
  const snapshots = new Map<NsKey, NsSnapshot | null>();
  const reads: NsReadRequest[] = [];
  for (const r of wanted) {
    const cached = reusable(reuse, r);
    if (cached) snapshots.set(r.ns.key, cached);
    else reads.push(r);
  }
  for (const [k, v] of await readNamespaces(kernel, reads, providers)) snapshots.set(k, v);
  return snapshots;
}

/** Reads, then reads again with them the namespaces whose first snapshot says a provider's conditional tables may be there. */
async function readNamespaces(kernel: Kernel, reqs: readonly NsReadRequest[], providers: readonly Provider[]): Promise<Map<NsKey, NsSnapshot | null>> {
  const out = await kernel.readNamespaces(reqs);
  const again: NsReadRequest[] = [];
  for (const r of reqs) {
    const snap = out.get(r.ns.key);
    if (!snap) continue;
    const extra = providers.flatMap((p) => p.nftTablesIf?.(r.ns.key, snap) ?? []).filter((t) => !(nftTableKey(t) in snap.nft));
    if (extra.length > 0) again.push({ ...r, nftTables: [...(r.nftTables ?? []), ...extra] });
  }
  if (again.length > 0) for (const [k, v] of await kernel.readNamespaces(again)) out.set(k, v);
  return out;
}

/**
 * A snapshot taken right after the namespace was last written, or an earlier one of a namespace
 * not touched since, that holds everything asked now.
 */
function reusable(reuse: ObserveRequest['reuse'], r: NsReadRequest): NsSnapshot | undefined {
  if (!reuse) return undefined;
  const prev = reuse.fresh.has(r.ns.key) ? reuse.readBack?.get(r.ns.key) : r.ns.key === HOST ? reuse.observation.hostSnapshot : reuse.observation.namespaces.get(r.ns.key);
  if (!prev) return undefined;
  if (!r.sysctls.every((p) => p in prev.sysctls)) return undefined;
  if (!(r.nftTables ?? []).every((t) => nftTableKey(t) in prev.nft)) return undefined;
  if ((r.neighbours && !prev.neighbours) || (r.fdb && !prev.fdb)) return undefined;
  return prev;
}

export interface ScopedObserveRequest {
  hostNetns: string;
  /** The observation the scope is cut from (the last converged one, full). */
  base: Observation;
  /** The namespaces to read again (HOST for the host); every other one keeps its snapshot in `base`. */
  scope: ReadonlySet<NsKey>;
  /** The whole desired state: what to read in each namespace (sysctls, tables). */
  desired: KernelState;
  /** The desired entries of the scope's namespaces: providers sort what they read against it. */
  desiredSlice: KernelState;
  nsRefs: ReadonlyMap<NsKey, NsRef>;
  providers: readonly Provider[];
  /** Snapshots an apply took right after writing (Kernel.run): used instead of reading again. */
  readBack?: ReadBack;
  pluginLinks?: ReadonlyMap<NsKey, ReadonlySet<string>>;
}

/**
 * observe() for a few namespaces: reads only the scope's namespaces and /etc/netns files, and
 * gives the entries of those namespaces alone. `merged` is `base` with the scope read again: the
 * next scoped pass starts from it. Cost grows with the scope, not with the number of containers.
 */
export async function observeScoped(kernel: Kernel, req: ScopedObserveRequest): Promise<{ observation: Observation; merged: Observation; observed: KernelState }> {
  const { base, scope } = req;
  const [names, netnsIntents, dirs] = await Promise.all([
    kernel.listNetns().then((n) => new Set(n)),
    kernel.netnsIntents?.() ?? new Set<string>(),
    kernel.listDir(ETC_NETNS),
  ]);
  const wanted: NsReadRequest[] = [];
  const refs = new Map<NsKey, NsRef>();
  for (const key of scope) {
    if (key === HOST) {
      wanted.push({ ns: base.host, ...readSpec(req.desired, req.providers, HOST), ...hostExtras(req.desired, req.providers) });
      continue;
    }
    const ref = req.nsRefs.get(key) ?? base.nsRefs.get(key) ?? { key, path: `/run/netns/${key}` };
    const named = ref.path?.startsWith('/run/netns/') ?? false;
    if (named && !names.has(ref.path!.slice('/run/netns/'.length))) continue;
    refs.set(key, ref);
    wanted.push({ ns: ref, ...readSpec(req.desired, req.providers, key) });
  }
  const reuse = { observation: base, fresh: scope, ...(req.readBack ? { readBack: req.readBack } : {}) };
  const snapshots = await snapshotsOf(kernel, wanted, reuse, req.providers);
  const hostFound = scope.has(HOST) ? snapshots.get(HOST) : base.hostSnapshot;
  if (!hostFound) throw new Error(`the host namespace ${req.hostNetns || '(root)'} cannot be read; does it exist?`);

  const read = new Map<NsKey, NsSnapshot>();
  for (const key of refs.keys()) {
    const snap = snapshots.get(key);
    if (snap) read.set(key, snap);
    else refs.delete(key);
  }
  const all = new Map(base.allNamespaces ?? base.namespaces);
  const allRefs = new Map(base.nsRefs);
  for (const key of scope) {
    if (key === HOST) continue;
    const snap = read.get(key);
    if (snap) {
      all.set(key, snap);
      allRefs.set(key, refs.get(key)!);
    } else {
      all.delete(key);
      allRefs.delete(key);
    }
  }
  const claimed = claimUntaggedLinks(hostFound, read, req.desiredSlice, all);
  const namespaces = claimed.namespaces;
  // Out of scope, the host is only looked at for the scope's own veths and the networks' devices.
  const hostSnapshot = scope.has(HOST) ? claimed.hostSnapshot : hostViewFor(claimed.hostSnapshot, scope, req.hostNetns);

  const prefix = req.hostNetns ? `${req.hostNetns}-` : '';
  const allDirs = dirs.filter((d) => d !== req.hostNetns && d.startsWith(prefix));
  const scopedDirs = allDirs.filter((d) => scope.has(d));
  const filePaths = new Set<string>(Object.keys(req.desiredSlice.files));
  for (const d of scopedDirs) for (const f of fileNames) filePaths.add(`${ETC_NETNS}/${d}/${f}`);
  const files = await kernel.readFiles([...filePaths]);
  const mergedFiles = new Map([...base.files].filter(([p]) => !scope.has(p.split('/')[3] ?? '')));
  for (const [p, v] of files) mergedFiles.set(p, v);

  // Handles of the scope's rules: a later pass finds its own.
  const nftRuleHandles = new Map<string, number>();
  const common = { hostNetns: req.hostNetns, host: base.host, hostSnapshot, netnsNames: names, netnsIntents, nftRuleHandles };
  const observation: Observation = { ...common, namespaces, allNamespaces: all, nsRefs: refs, files, etcNetnsDirs: scopedDirs, ...(scope.has(HOST) ? {} : { hostOutOfScope: true }) };
  const merged: Observation = { ...common, hostSnapshot: claimed.hostSnapshot, namespaces: all, nsRefs: allRefs, files: mergedFiles, etcNetnsDirs: allDirs };
  const observed = observeAll(req.providers, observation, { desired: req.desiredSlice, nftRuleHandles, ...(req.pluginLinks ? { pluginLinks: req.pluginLinks } : {}) });
  return { observation, merged, observed: filterToScope(observed, scope) };
}

/** A host snapshot's links: weft's veths by the namespace of their container end, and every other link. */
const hostIndex = new WeakMap<NsSnapshot, { veths: Map<NsKey, KLink[]>; others: KLink[] }>();

/** The host as a scope without it needs it: the veths into the scope's namespaces and every non-veth link. */
function hostViewFor(host: NsSnapshot, scope: ReadonlySet<NsKey>, hostNetns: string): NsSnapshot {
  let index = hostIndex.get(host);
  if (!index) {
    index = { veths: new Map(), others: [] };
    for (const l of host.links) {
      if (l.kind !== 'veth') {
        index.others.push(l);
        continue;
      }
      const ctr = parseAlias(l.alias)?.['ctr'];
      if (ctr === undefined) continue;
      const ns = netnsName(hostNetns, ctr);
      const list = index.veths.get(ns);
      if (list) list.push(l);
      else index.veths.set(ns, [l]);
    }
    hostIndex.set(host, index);
  }
  const links = [...index.others];
  for (const ns of scope) links.push(...(index.veths.get(ns) ?? []));
  return { ...host, links };
}

/** The host read's extra tables (neighbours, VXLAN forwarding entries) that providers ask for. */
function hostExtras(desired: KernelState, providers: readonly Provider[]): Pick<NsReadRequest, 'neighbours' | 'fdb'> {
  const out: Pick<NsReadRequest, 'neighbours' | 'fdb'> = {};
  for (const p of providers) {
    const extra = p.hostReads?.(desired);
    if (extra?.neighbours) out.neighbours = true;
    if (extra?.fdb) out.fdb = true;
  }
  return out;
}
