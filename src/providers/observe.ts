import type { Kernel, NsReadRequest, NsReadSpec, NsRef, NsSnapshot, ReadBack } from '../kernel/index.js';
import { nftTableKey } from '../kernel/index.js';
import type { KernelState, NsKey } from '../state/types.js';
import { HOST, emptyState } from '../state/types.js';
import { claimUntaggedLinks } from './claim.js';
import { ETC_NETNS, fileNames } from './files.js';
import type { Observation, Provider } from './types.js';

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
  const hostRead: NsReadRequest = { ns: req.host, ...spec(HOST) };
  for (const p of req.providers) {
    const extra = p.hostReads?.(req.desired);
    if (extra?.neighbours) hostRead.neighbours = true;
    if (extra?.fdb) hostRead.fdb = true;
  }
  const wanted: NsReadRequest[] = [hostRead, ...[...candidates.values()].map((ns) => ({ ns, ...spec(ns.key) }))];
  const snapshots = new Map<NsKey, NsSnapshot | null>();
  const reads: NsReadRequest[] = [];
  for (const r of wanted) {
    const cached = reusable(req, r);
    if (cached) snapshots.set(r.ns.key, cached);
    else reads.push(r);
  }
  for (const [k, v] of await kernel.readNamespaces(reads)) snapshots.set(k, v);
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
  };
  const observed = emptyState();
  const ctx = { desired: req.desired, ...(req.pluginLinks ? { pluginLinks: req.pluginLinks } : {}) };
  for (const p of req.providers) (observed as unknown as Record<string, unknown>)[p.domain] = p.observe(observation, ctx);
  return { observation, observed };
}

/**
 * A snapshot taken right after the namespace was last written, or an earlier one of a namespace
 * not touched since, that holds everything asked now.
 */
function reusable(req: ObserveRequest, r: NsReadRequest): NsSnapshot | undefined {
  if (!req.reuse) return undefined;
  const prev = req.reuse.fresh.has(r.ns.key)
    ? req.reuse.readBack?.get(r.ns.key)
    : r.ns.key === HOST
      ? req.reuse.observation.hostSnapshot
      : req.reuse.observation.namespaces.get(r.ns.key);
  if (!prev) return undefined;
  if (!r.sysctls.every((p) => p in prev.sysctls)) return undefined;
  if (!(r.nftTables ?? []).every((t) => nftTableKey(t) in prev.nft)) return undefined;
  if ((r.neighbours && !prev.neighbours) || (r.fdb && !prev.fdb)) return undefined;
  return prev;
}
