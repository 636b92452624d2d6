import type { Logger } from '../log.js';
import { NotConvergedError, UsageError } from '../errors.js';
import type { Model } from '../model/index.js';
import type { Allocations, CompileInputs, CompileResult, NetworkDriver, PeerEndpoint, PluginAttachment, Topology } from '../compile/index.js';
import { compile, emptyAllocations, endpointKey, extractAllocations, firewallWanted, hostOwner } from '../compile/index.js';
import type { Kernel, KernelStats, NsRef, NsSnapshot, ProgressFn } from '../kernel/index.js';
import type { Observation, Provider } from '../providers/index.js';
import type { PluginPlan, PluginRecord, PluginRunner, RecordStore } from '../plugins/index.js';
import { applyPluginAdds, applyPluginDeletes, planPlugins } from '../plugins/index.js';
import { hostLinkOwner, observe, readSpec } from '../providers/index.js';
import type { AnyEntry, KernelState, NsKey } from '../state/types.js';
import { HOST, ownerKey } from '../state/types.js';
import { admitEndpoints, storeTrust } from '../store/trust.js';
import type { Rejection } from '../store/trust.js';
import { buildProgram } from './apply.js';
import { ConflictError, findConflicts } from './conflicts.js';
import { planChanges } from './plan.js';
import type { Plan, PlanOptions } from './plan.js';

export interface ReconcileContext {
  kernel: Kernel;
  log: Logger;
  /** "" for the machine's own namespace, else the --host-netns name. */
  hostNetns: string;
  /** --node, if given. */
  node?: string;
  drivers: ReadonlyMap<string, NetworkDriver>;
  providers: readonly Provider[];
  /** Called with kernel objects done out of planned as an apply runs (the CLI's progress line). */
  progress?: ProgressFn;
  /** The membership store (--store): endpoints other nodes published, read once per reconcile. */
  peers?: PeerSource;
  /** Plugin drivers (CNI, Docker remote drivers): their callers and the record store. */
  plugins?: PluginSupport;
}

/** What the plugin phase needs: a runner per plugin kind and the record store of this host. */
export interface PluginSupport {
  runners: ReadonlyMap<string, PluginRunner>;
  store: RecordStore;
}

/** Where endpoints of other nodes come from (the etcd store; see src/store). */
export interface PeerSource {
  endpoints(): Promise<PeerEndpoint[]>;
  /** Hears about each endpoint the manifests do not vouch for (src/store/trust.ts); it is not used. */
  rejected?(r: Rejection): void;
}

export interface ReconcileOptions {
  prune: boolean;
  /** Plan only: observe and diff, write nothing. */
  dryRun: boolean;
}

export interface ReconcileResult {
  plan: Plan;
  /** The plugin phase: its changes, orphans, per-network failures and CHECK warnings. */
  plugins: PluginPlan;
  topology: Topology;
  desired: KernelState;
  observed: KernelState;
  observation: Observation;
  /** Owner keys the manifests declare: objects of any other owner are orphans. */
  owners: ReadonlySet<string>;
  /** Interfaces plugins made or make in container namespaces (not weft's to change). */
  pluginLinks: ReadonlyMap<NsKey, ReadonlySet<string>>;
  /** Writes happened (false for dry runs and converged systems). */
  applied: boolean;
  durationMs: number;
  stats: KernelStats;
}

export function hostRef(hostNetns: string): NsRef {
  return { key: HOST, path: hostNetns ? `/run/netns/${hostNetns}` : null };
}

/** Where the host namespace's resolv.conf is: ip netns exec shows /etc/netns/<ns>/resolv.conf there. */
export async function readHostResolvConf(kernel: Kernel, hostNetns: string): Promise<string> {
  const paths = hostNetns ? [`/etc/netns/${hostNetns}/resolv.conf`, '/etc/resolv.conf'] : ['/etc/resolv.conf'];
  const files = await kernel.readFiles(paths);
  for (const p of paths) {
    const text = files.get(p);
    if (text !== null && text !== undefined) return text;
  }
  return '';
}

/** The node this weft is: --node, else the declared Host whose address is on a host interface. */
export function detectNode(model: Model, host: NsSnapshot, node: string | undefined): string | undefined {
  if (node !== undefined) {
    if (model.hosts.size > 0 && !model.hosts.has(node)) {
      throw new UsageError(`--node ${node}: no Host of that name in the manifests (declared: ${[...model.hosts.keys()].sort().join(', ')})`);
    }
    return node;
  }
  if (model.hosts.size === 0) return undefined;
  const local = new Set(host.addresses.map((a) => a.local));
  const matches = [...model.hosts.values()].filter((h) => local.has(h.address));
  const [match, other] = matches;
  if (!match) {
    throw new UsageError(
      `this machine has none of the declared Host addresses (${[...model.hosts.values()].map((h) => `${h.name}=${h.address}`).join(', ')}); pass --node NAME`,
    );
  }
  if (other) {
    throw new UsageError(`several declared Hosts have their address on this machine (${matches.map((h) => `${h.name}=${h.address}`).join(', ')}); pass --node NAME`);
  }
  return match.name;
}

export function nsRefsOf(topology: Topology): Map<NsKey, NsRef> {
  const out = new Map<NsKey, NsRef>();
  for (const c of topology.containers.values()) {
    if (c.local && c.ns && c.nsPath) out.set(c.ns, { key: c.ns, path: c.nsPath });
  }
  return out;
}

/**
 * Owners the manifests still declare: anything else weft owns is an orphan (kept without --prune).
 * A container placed on another node is declared too: what is left of it here is simply removed.
 */
export function desiredOwners(model: Model, topology: Topology): Set<string> {
  const out = new Set<string>();
  for (const n of model.networks.keys()) out.add(ownerKey({ kind: 'network', name: n }));
  // Networks compile adds on demand (docker_gwbridge) while they are used.
  for (const n of topology.networks.values()) if (n.materialize) out.add(ownerKey({ kind: 'network', name: n.network.name }));
  for (const c of model.containers.keys()) out.add(ownerKey({ kind: 'container', name: c }));
  // The host's own objects (firewall table, host sysctls) follow the manifests without --prune
  // while the host has bridge networks; without any, a firewall left over is an orphan.
  if (firewallWanted(topology)) out.add(ownerKey(hostOwner(topology.hostNetns)));
  return out;
}

interface Prepared {
  host: NsRef;
  /** Interfaces plugins made in container namespaces: not weft's (ObserveContext.pluginLinks). */
  pluginLinks: Map<NsKey, Set<string>>;
  compiled: CompileResult;
  observed: KernelState;
  observation: Observation;
  owners: Set<string>;
}

/** Observes the kernel and compiles the manifests against it (IPAM sticky on what was observed). */
async function prepare(model: Model, ctx: ReconcileContext, prune: boolean, records: readonly PluginRecord[]): Promise<Prepared> {
  const host = hostRef(ctx.hostNetns);
  const hostResolvConf = await readHostResolvConf(ctx.kernel, ctx.hostNetns);
  const baseInputs: CompileInputs = {
    hostNetns: ctx.hostNetns,
    allocations: emptyAllocations(),
    hostResolvConf,
    hostRoutes: [],
    pluginAddresses: pluginAddresses(records),
    ...(ctx.node !== undefined ? { node: ctx.node } : {}),
  };
  // A first compile only tells which namespaces and settings to read (they do not depend on IPAM).
  let t = performance.now();
  const draft = compile(model, baseInputs, ctx.drivers);
  const draftMs = performance.now() - t;
  const pluginLinks = pluginLinksOf(draft.attachments, records);
  t = performance.now();
  const [first, published] = await Promise.all([
    observe(ctx.kernel, {
      hostNetns: ctx.hostNetns,
      host,
      desired: draft.desired,
      nsRefs: nsRefsOf(draft.topology),
      providers: ctx.providers,
      pluginLinks,
    }),
    ctx.peers?.endpoints(),
  ]);
  ctx.log.debug({ ms: Math.round(performance.now() - t), namespaces: first.observation.namespaces.size }, 'observed');
  t = performance.now();
  const node = detectNode(model, first.observation.hostSnapshot, ctx.node);
  if (ctx.peers && (node === undefined || !model.hosts.has(node))) {
    throw new UsageError(
      `--store: this node must be a declared Host (its underlay address is what peers send to); declare a Host${node !== undefined ? ` named "${node}"` : ''} and pass --node NAME if its address is not on this host`,
    );
  }
  // The store is a trust boundary: only endpoints the manifests vouch for reach the compile.
  let peers: PeerEndpoint[] | undefined;
  if (published) {
    const admitted = admitEndpoints(published, storeTrust(model, draft.topology));
    for (const r of admitted.rejected) ctx.peers?.rejected?.(r);
    peers = admitted.accepted;
  }
  const allocations = extractAllocations(first.observed);
  const compiled = compile(model, { ...baseInputs, ...hostInputs(first.observation.hostSnapshot, allocations, prune, node), ...(peers ? { peers } : {}) }, ctx.drivers);
  // Providers sort snapshots by what is desired (sysctls read, rules matched): sort again against
  // the final desired state. Snapshots are reused; a namespace is read again only where the final
  // state asks for something the draft did not (a sysctl, a table).
  const final = await observe(ctx.kernel, {
    hostNetns: ctx.hostNetns,
    host,
    desired: compiled.desired,
    nsRefs: nsRefsOf(compiled.topology),
    providers: ctx.providers,
    reuse: { observation: first.observation, fresh: new Set() },
    pluginLinks,
  });
  ctx.log.debug({ ms: Math.round(performance.now() - t + draftMs) }, 'compiled');
  return { host, pluginLinks, compiled, observed: final.observed, observation: final.observation, owners: desiredOwners(model, compiled.topology) };
}

/** Applies a plan and verifies by observing again. Throws NotConvergedError if the kernel still differs. */
async function applyAndVerify(ctx: ReconcileContext, p: Prepared, desired: KernelState, plan: Plan, planOpts: PlanOptions, result: ReconcileResult): Promise<void> {
  const refs = new Map([...p.observation.nsRefs, ...nsRefsOf(p.compiled.topology)]);
  const program = buildProgram(plan.changes, ctx.providers, p.host, {
    desired,
    observed: p.observed,
    nftRuleHandles: p.observation.nftRuleHandles,
    nsRef: (key) => (key === HOST ? p.host : (refs.get(key) ?? { key, path: `/run/netns/${key}` })),
  });
  // Container namespaces are read back by the process that writes them: verifying them costs no
  // process of its own.
  for (const w of program.containers) w.readBack = readSpec(desired, ctx.providers, w.ns.key);
  ctx.log.debug({ changes: plan.changes.length }, 'applying');
  let t = performance.now();
  const readBack = (await ctx.kernel.run(program, objectProgress(plan, ctx.progress))) ?? undefined;
  ctx.progress?.(plan.changes.length, plan.changes.length);
  result.applied = true;
  ctx.log.debug({ ms: Math.round(performance.now() - t), namespaces: program.containers.length }, 'applied');
  t = performance.now();
  // Only what the program wrote can have changed: read those namespaces again, reuse the rest.
  const fresh = new Set<NsKey>([HOST, ...[...(program.early ?? []), ...program.containers].map((w) => w.ns.key), ...program.netnsAdd]);
  const after = await observe(ctx.kernel, {
    hostNetns: ctx.hostNetns,
    host: p.host,
    desired,
    nsRefs: nsRefsOf(p.compiled.topology),
    providers: ctx.providers,
    reuse: { observation: p.observation, fresh, ...(readBack ? { readBack } : {}) },
    pluginLinks: p.pluginLinks,
  });
  const again = planChanges(after.observed, desired, ctx.providers, planOpts);
  ctx.log.debug({ ms: Math.round(performance.now() - t) }, 'verified');
  result.observed = after.observed;
  result.observation = after.observation;
  if (again.changes.length > 0) {
    throw new NotConvergedError(again.changes.map((c) => `${c.action} ${c.domain} ${c.id}${c.fields.length ? ` (${c.fields.join(', ')})` : ''}`));
  }
}

/**
 * The kernel reports container namespaces written; people count objects. The namespaces, the
 * host and the early work are done before the first container namespace; each namespace counts
 * for its share of the container objects.
 */
function objectProgress(plan: Plan, progress: ProgressFn | undefined): ProgressFn | undefined {
  if (!progress) return undefined;
  const total = plan.changes.length;
  const inContainers = plan.changes.filter((c) => {
    const e = (c.desired ?? c.observed) as AnyEntry & { ns?: string };
    return c.domain !== 'netns' && c.domain !== 'files' && e.ns !== undefined && e.ns !== HOST;
  }).length;
  const files = plan.changes.filter((c) => c.domain === 'files').length;
  const before = total - inContainers - files;
  progress(0, total);
  return (done, works) => progress(Math.min(total, before + Math.round((works > 0 ? done / works : 1) * inContainers)), total);
}

function finish(result: ReconcileResult, ctx: ReconcileContext, started: number, before: KernelStats): ReconcileResult {
  result.durationMs = performance.now() - started;
  result.stats = { processes: ctx.kernel.stats.processes - before.processes, writes: ctx.kernel.stats.writes - before.writes };
  return result;
}

/**
 * The manifests compiled against the kernel as it is (IPAM sticky on what is there), without a
 * plan: what the DNS server needs to know every container's addresses. Read-only.
 */
export async function compileAgainstKernel(model: Model, ctx: ReconcileContext): Promise<CompileResult> {
  return (await prepare(model, ctx, false, (await ctx.plugins?.store.list()) ?? [])).compiled;
}

/** The interfaces plugins make or made in container namespaces: the attachments' and the recorded results'. */
function pluginLinksOf(attachments: readonly PluginAttachment[], records: readonly PluginRecord[]): Map<NsKey, Set<string>> {
  const out = new Map<NsKey, Set<string>>();
  const put = (ns: NsKey, name: string) => out.set(ns, (out.get(ns) ?? new Set()).add(name));
  for (const a of attachments) put(a.nsKey, a.ifname);
  for (const r of records) {
    put(r.nsKey, r.ifname);
    for (const i of r.result.interfaces ?? []) if (i.sandbox !== undefined && i.sandbox !== '') put(r.nsKey, i.name);
  }
  return out;
}

/** "container|network" -> the addresses plugins gave (their recorded results), for compile. */
function pluginAddresses(records: readonly PluginRecord[]): Map<string, string[]> {
  return new Map(records.map((r) => [endpointKey(r.container, r.network), (r.result.ips ?? []).map((ip) => ip.address)]));
}

export const noPlugins = (): PluginPlan => ({ changes: [], orphans: [], failures: [], warnings: [], requests: new Map() });

/** Plans the plugin phase against what prepare observed (CHECK runs here: plugins' CHECK is read-only). */
async function planPluginPhase(model: Model, ctx: ReconcileContext, p: Prepared, records: readonly PluginRecord[], prune: boolean, destroying?: boolean): Promise<PluginPlan> {
  if (!ctx.plugins) return noPlugins();
  return planPlugins(
    {
      attachments: p.compiled.attachments,
      records,
      namespaces: p.observation.namespaces,
      prune,
      declaredContainers: new Set(model.containers.keys()),
      ...(destroying ? { destroy: { containers: new Set(model.containers.keys()), networks: new Set([...model.networks.values()].filter((n) => n.declared).map((n) => n.name)) } } : {}),
    },
    ctx.plugins.runners,
    { kernel: ctx.kernel, log: ctx.log, hostNetns: ctx.hostNetns },
  );
}

/**
 * Applies the kernel plan between the plugin phase's halves: DELs first (the namespaces still
 * exist), the kernel program, then ADDs (the namespaces exist now). Returns whether plugins made
 * something new (their addresses then reach /etc/hosts and DNS through a second kernel pass).
 */
async function applyWithPlugins(ctx: ReconcileContext, p: Prepared, desired: KernelState, plan: Plan, planOpts: PlanOptions, result: ReconcileResult): Promise<boolean> {
  const support = ctx.plugins;
  const pctx = support ? { kernel: ctx.kernel, log: ctx.log, hostNetns: ctx.hostNetns, store: support.store, runners: support.runners, now: () => new Date() } : undefined;
  const next = pctx ? await applyPluginDeletes(result.plugins, pctx) : [];
  if (plan.changes.length > 0) await applyAndVerify(ctx, p, desired, plan, planOpts, result);
  if (!pctx || result.plugins.changes.length === 0) return false;
  result.applied = true;
  await applyPluginAdds(result.plugins, next, pctx);
  return next.some((c) => c.action !== 'delete');
}

/**
 * One reconcile: observe, compile, plan, and unless dry-run, apply and verify by observing again.
 * Throws NotConvergedError if the kernel still differs after applying.
 */
export async function reconcile(model: Model, ctx: ReconcileContext, opts: ReconcileOptions): Promise<ReconcileResult> {
  const started = performance.now();
  const before = { ...ctx.kernel.stats };
  const records = (await ctx.plugins?.store.list()) ?? [];
  const p = await prepare(model, ctx, opts.prune, records);
  const conflicts = findConflicts(p.observation, p.observed, p.compiled.desired);
  if (conflicts.length > 0) throw new ConflictError(conflicts);
  const planOpts: PlanOptions = { prune: opts.prune, desiredOwners: p.owners };
  const t = performance.now();
  const plan = planChanges(p.observed, p.compiled.desired, ctx.providers, planOpts);
  ctx.log.debug({ ms: Math.round(performance.now() - t), changes: plan.changes.length }, 'planned');
  const result: ReconcileResult = {
    plan,
    plugins: await planPluginPhase(model, ctx, p, records, opts.prune),
    topology: p.compiled.topology,
    desired: p.compiled.desired,
    observed: p.observed,
    observation: p.observation,
    owners: p.owners,
    pluginLinks: p.pluginLinks,
    applied: false,
    durationMs: 0,
    stats: { processes: 0, writes: 0 },
  };
  if (!opts.dryRun && (await applyWithPlugins(ctx, p, p.compiled.desired, plan, planOpts, result))) {
    // Plugins gave addresses this compile did not know: /etc/hosts and DNS follow in a kernel-only pass.
    const again = await prepare(model, ctx, opts.prune, (await ctx.plugins?.store.list()) ?? []);
    const plan2 = planChanges(again.observed, again.compiled.desired, ctx.providers, { prune: opts.prune, desiredOwners: again.owners });
    const second = { ...result, plan: plan2 };
    if (plan2.changes.length > 0) await applyAndVerify(ctx, again, again.compiled.desired, plan2, { prune: opts.prune, desiredOwners: again.owners }, second);
    result.plan = { ...plan, changes: [...plan.changes, ...plan2.changes] };
    result.topology = again.compiled.topology;
    result.desired = again.compiled.desired;
    result.observed = second.observed;
    result.observation = second.observation;
    result.owners = again.owners;
    result.pluginLinks = again.pluginLinks;
  }
  return finish(result, ctx, started, before);
}

/**
 * Removes everything weft owns for these manifests: their containers and networks (the default
 * bridge too, unless containers outside these manifests still use it). Everything else stays.
 */
export async function destroy(model: Model, ctx: ReconcileContext, opts: { dryRun: boolean }): Promise<ReconcileResult> {
  const started = performance.now();
  const before = { ...ctx.kernel.stats };
  const records = (await ctx.plugins?.store.list()) ?? [];
  const p = await prepare(model, ctx, true, records);
  const targets = new Set([...p.owners]);
  // Keep a shared predefined network while others' containers still hang off it.
  for (const e of Object.values(p.observed.links)) {
    if (e.kind === 'veth' && !targets.has(ownerKey(e.owner)) && e.master) {
      const bridge = Object.values(p.observed.links).find((b) => b.kind === 'bridge' && b.name === e.master);
      if (bridge) targets.delete(ownerKey(bridge.owner));
    }
  }
  // The host's own objects (the firewall) go with the last network weft keeps on this host.
  const host = ownerKey(hostOwner(ctx.hostNetns));
  const networksLeft = Object.values(p.observed).some((entries: Record<string, AnyEntry>) =>
    Object.values(entries).some((e) => e.owner.kind === 'network' && !targets.has(ownerKey(e.owner))),
  );
  if (networksLeft) targets.delete(host);
  else targets.add(host);
  const desired = filterState(p.observed, (e) => !targets.has(ownerKey(e.owner)));
  const keep = new Set([...allOwners(p.observed)].filter((o) => !targets.has(o)));
  const planOpts: PlanOptions = { prune: true, desiredOwners: keep };
  const plan = planChanges(p.observed, desired, ctx.providers, planOpts);
  const result: ReconcileResult = {
    plan,
    plugins: await planPluginPhase(model, ctx, p, records, true, true),
    topology: p.compiled.topology,
    desired,
    observed: p.observed,
    observation: p.observation,
    owners: keep,
    pluginLinks: p.pluginLinks,
    applied: false,
    durationMs: 0,
    stats: { processes: 0, writes: 0 },
  };
  if (!opts.dryRun) await applyWithPlugins(ctx, p, desired, plan, planOpts, result);
  return finish(result, ctx, started, before);
}

function filterState(state: KernelState, keep: (e: AnyEntry) => boolean): KernelState {
  const out = {} as Record<string, Record<string, AnyEntry>>;
  for (const [domain, entries] of Object.entries(state) as [string, Record<string, AnyEntry>][]) {
    out[domain] = Object.fromEntries(Object.entries(entries).filter(([, e]) => keep(e)));
  }
  return out as unknown as KernelState;
}

function allOwners(state: KernelState): Set<string> {
  const out = new Set<string>();
  for (const entries of Object.values(state) as Record<string, AnyEntry>[]) for (const e of Object.values(entries)) out.add(ownerKey(e.owner));
  return out;
}

/**
 * The compile inputs that come from what the host holds: the node, sticky allocations, networks
 * kept while they exist (unless pruning: orphans may still use them), foreign routes and
 * interfaces. The same for a full reconcile and the daemon's edit pass.
 */
export function hostInputs(host: NsSnapshot, allocations: Allocations, prune: boolean, node: string | undefined): Partial<CompileInputs> & Pick<CompileInputs, 'allocations' | 'hostRoutes'> {
  return {
    ...(node !== undefined ? { node } : {}),
    allocations,
    ...(prune ? {} : { keepNetworks: new Set(allocations.subnets.keys()) }),
    hostRoutes: foreignRoutes(host),
    hostInterfaces: host.links.filter((l) => !hostLinkOwner(l)).map((l) => ({ name: l.name, mtu: l.mtu })),
  };
}

/** IPv4 routes in the host's main table that are not weft's: default pools avoid them (as Docker does). */
function foreignRoutes(host: NsSnapshot): string[] {
  return host.routes
    .filter((r) => r.family === 4 && r.table === 'main' && r.dst !== 'default' && r.protocol !== '250')
    .map((r) => (r.dst.includes('/') ? r.dst : `${r.dst}/32`));
}
