/**
 * The daemon's drift path. When kernel events are the only reason to reconcile, the manifests
 * and the peers are the ones the last full reconcile converged to, so its desired state still
 * holds: only the namespaces the events name are read, diffed against their slice of that state
 * and repaired. Its cost follows the namespaces touched, not the number of containers; the full
 * reconcile (manifest edits, resync, start, any failure here) stays the reference.
 */
import { NotConvergedError } from '../errors.js';
import type { NsRef } from '../kernel/index.js';
import { touchedNamespaces } from '../kernel/index.js';
import type { Observation } from '../providers/index.js';
import { observeScoped, readSpec } from '../providers/index.js';
import { joinSlices, splitByNamespace } from '../state/slice.js';
import type { KernelState, LinkEntry, NftEntry, NsKey } from '../state/types.js';
import { HOST } from '../state/types.js';
import { buildProgram } from './apply.js';
import { ConflictError, findConflicts } from './conflicts.js';
import { planChanges } from './plan.js';
import type { Plan, PlanOptions, PlannedChange } from './plan.js';
import type { ReconcileContext, ReconcileResult } from './reconcile.js';
import { desiredOwners, detectNode, hostInputs, noPlugins, nsRefsOf, readHostResolvConf } from './reconcile.js';
import { compile, extractAllocations } from '../compile/index.js';
import type { Model } from '../model/index.js';

/** What a full reconcile converged to: the reference a drift pass diffs against. */
export interface Baseline {
  desired: KernelState;
  /** `desired` by namespace (split once per full reconcile). */
  desiredByNs: Map<NsKey, KernelState>;
  /** The last full observation, with every scoped pass since merged in. */
  observation: Observation;
  nsRefs: ReadonlyMap<NsKey, NsRef>;
  /** Owner keys the manifests declare (for orphans). */
  owners: ReadonlySet<string>;
  /** Joined desired slices by scope (desiredSlice). */
  slices: Map<string, KernelState>;
}

export function makeBaseline(desired: KernelState, observation: Observation, nsRefs: ReadonlyMap<NsKey, NsRef>, owners: ReadonlySet<string>): Baseline {
  return { desired, desiredByNs: splitByNamespace(desired), observation, nsRefs, owners, slices: new Map() };
}

/** The desired entries of a scope (joined once per scope and baseline: the host's slice holds every port). */
function desiredSlice(base: Baseline, scope: ReadonlySet<NsKey>): KernelState {
  const key = [...scope].sort().join('\n');
  let out = base.slices.get(key);
  if (!out) {
    if (base.slices.size >= 256) base.slices.clear();
    base.slices.set(key, (out = joinSlices(base.desiredByNs, scope)));
  }
  return out;
}

/**
 * nftables entries last diffed equal, observed -> desired. The kernel cache keeps a namespace's
 * table listing while only its links change, and the provider then gives the same entry objects:
 * the same pair again needs no diff (the host's tables hold an element per published port).
 */
const equalBefore = new WeakMap<NftEntry, NftEntry>();

function planOnce(observed: KernelState, desired: KernelState, providers: ReconcileContext['providers'], opts: PlanOptions): Plan {
  const o: Record<string, NftEntry> = {};
  const d: Record<string, NftEntry> = { ...desired.nftables };
  for (const [id, e] of Object.entries(observed.nftables)) {
    const want = desired.nftables[id];
    if (want !== undefined && equalBefore.get(e) === want) delete d[id];
    else o[id] = e;
  }
  const plan = planChanges({ ...observed, nftables: o }, { ...desired, nftables: d }, providers, opts);
  const changed = new Set([...plan.changes, ...plan.orphans].filter((c) => c.domain === 'nftables').map((c) => c.id));
  for (const [id, e] of Object.entries(o)) {
    const want = d[id];
    if (want !== undefined && !changed.has(id)) equalBefore.set(e, want);
  }
  return plan;
}

export interface ScopedResult {
  plan: Plan;
  /** The namespaces read (the events' ones and what their repairs reach). */
  scope: NsKey[];
  applied: boolean;
}

/** A scope grows at most this often: each round adds the namespaces a repair reaches into. */
const MAX_ROUNDS = 3;

/**
 * One drift pass over the namespaces `dirty` names: observe them, plan against their desired
 * slice, apply and verify. Updates `base.observation` when it converges. Throws on a conflict or
 * when the kernel still differs afterwards (the daemon then runs a full reconcile).
 */
export async function reconcileScoped(base: Baseline, ctx: ReconcileContext, dirty: ReadonlySet<NsKey>, prune: boolean): Promise<ScopedResult> {
  const scope = new Set(dirty);
  const planOpts: PlanOptions = { prune, desiredOwners: base.owners };
  const slice = (s: ReadonlySet<NsKey>) => desiredSlice(base, s);
  const look = (s: ReadonlySet<NsKey>, desiredSlice: KernelState, from: Observation, readBack?: Awaited<ReturnType<typeof ctx.kernel.run>>) =>
    observeScoped(ctx.kernel, {
      hostNetns: ctx.hostNetns,
      base: from,
      scope: s,
      desired: base.desired,
      desiredSlice,
      nsRefs: base.nsRefs,
      providers: ctx.providers,
      ...(readBack ? { readBack } : {}),
    });

  const t0 = performance.now();
  const lap = () => Math.round((performance.now() - t0) * 10) / 10;
  let desired = slice(scope);
  let seen = await look(scope, desired, base.observation);
  let plan = planOnce(seen.observed, desired, ctx.providers, planOpts);
  for (let round = 1; round < MAX_ROUNDS; round++) {
    const more = reachedBeyond(plan, scope);
    if (more.length === 0) break;
    for (const ns of more) scope.add(ns);
    desired = slice(scope);
    seen = await look(scope, desired, base.observation);
    plan = planOnce(seen.observed, desired, ctx.providers, planOpts);
  }
  ctx.log.debug({ ms: lap(), scope: [...scope], changes: plan.changes.length }, 'drift pass planned');
  const conflicts = findConflicts(seen.observation, seen.observed, desired);
  if (conflicts.length > 0) throw new ConflictError(conflicts);
  if (plan.changes.length === 0) {
    base.observation = seen.merged;
    return { plan, scope: [...scope], applied: false };
  }
  const host = base.observation.host;
  const done: PlannedChange[] = [];
  for (let attempt = 1; ; attempt++) {
    const refs = new Map([...base.nsRefs, ...seen.merged.nsRefs]);
    const program = buildProgram(plan.changes, ctx.providers, host, {
      desired,
      observed: seen.observed,
      nftRuleHandles: seen.observation.nftRuleHandles,
      nsRef: (key) => (key === HOST ? host : (refs.get(key) ?? { key, path: `/run/netns/${key}` })),
    });
    for (const w of program.containers) w.readBack = readSpec(base.desired, ctx.providers, w.ns.key);
    const readBack = await ctx.kernel.run(program);
    done.push(...plan.changes);
    ctx.log.debug({ ms: lap(), attempt }, 'drift pass applied');
    // Verify what was written (and anything the program touched beyond the scope).
    for (const ns of touchedNamespaces(program)) if (!program.netnsDelete.includes(ns)) scope.add(ns);
    desired = slice(scope);
    const after = await look(scope, desired, seen.merged, readBack ?? undefined);
    const again = planOnce(after.observed, desired, ctx.providers, planOpts);
    if (again.changes.length === 0) {
      base.observation = after.merged;
      ctx.log.debug({ ms: lap() }, 'drift pass verified');
      return { plan: { ...plan, changes: done }, scope: [...scope], applied: true };
    }
    // Something broke again while weft wrote (its events then count as weft's own): repair that
    // too, a few times, within the scope; beyond it, or past that, the full reconcile takes over.
    if (attempt >= MAX_ATTEMPTS || reachedBeyond(again, scope).length > 0) {
      throw new NotConvergedError(again.changes.map((c) => `${c.action} ${c.domain} ${c.id}${c.fields.length ? ` (${c.fields.join(', ')})` : ''}`));
    }
    seen = after;
    plan = again;
  }
}

/** Apply-and-verify rounds of one drift pass (drift during the write is repaired by the next). */
const MAX_ATTEMPTS = 3;

/**
 * Namespaces outside the scope that a plan's repairs reach: a veth pair is made from the host
 * with its peer in the container's namespace (whose end must then be configured), and a
 * container end or namespace made again needs its host end made again too.
 */
function reachedBeyond(plan: Plan, scope: ReadonlySet<NsKey>): NsKey[] {
  const out = new Set<NsKey>();
  for (const c of plan.changes) {
    if (c.domain === 'netns' && c.action === 'create') out.add(HOST);
    if (c.domain !== 'links' || c.action === 'update') continue;
    const link = (c.desired ?? c.observed) as LinkEntry;
    if (link.kind === 'veth') out.add(link.peer.ns);
    else if (link.kind === 'veth-peer' || link.kind === 'macvlan') out.add(HOST);
  }
  return [...out].filter((ns) => !scope.has(ns));
}

/**
 * A manifest edit as a scoped pass: the new manifests are compiled against what the baseline
 * converged to (sticky IPAM from its addresses), and only the namespaces whose desired slice
 * changed, with those kernel events named, are read, diffed, written and verified. Undefined
 * when the edit is not one for this path (plugin networks or records, a membership store); throws
 * like reconcileScoped (the daemon then runs a full reconcile).
 */
export async function reconcileEdit(base: Baseline, model: Model, ctx: ReconcileContext, prune: boolean, dirty: ReadonlySet<NsKey>): Promise<{ result: ReconcileResult; baseline: Baseline } | undefined> {
  const started = performance.now();
  const before = { ...ctx.kernel.stats };
  if (ctx.peers || ((await ctx.plugins?.store.list()) ?? []).length > 0) return undefined;
  const host = base.observation.hostSnapshot;
  const node = detectNode(model, host, ctx.node);
  const allocations = extractAllocations(base.desired);
  const compiled = compile(
    model,
    { hostNetns: ctx.hostNetns, hostResolvConf: await readHostResolvConf(ctx.kernel, ctx.hostNetns), pluginAddresses: new Map(), ...hostInputs(host, allocations, prune, node) },
    ctx.drivers,
  );
  if (compiled.attachments.length > 0) return undefined;
  const next = makeBaseline(compiled.desired, base.observation, nsRefsOf(compiled.topology), desiredOwners(model, compiled.topology));
  // Without --prune what leaves the manifests stays as orphans, which only a full reconcile counts.
  if (!prune && [...base.desiredByNs.keys()].some((ns) => !next.desiredByNs.has(ns))) return undefined;
  const scope = new Set(dirty);
  for (const ns of new Set([...base.desiredByNs.keys(), ...next.desiredByNs.keys()])) {
    if (!sameSlice(base.desiredByNs.get(ns), next.desiredByNs.get(ns))) scope.add(ns);
  }
  ctx.log.debug({ ms: Math.round(performance.now() - started), namespaces: scope.size }, 'edit compiled');
  const r = await reconcileScoped(next, ctx, scope, prune);
  const result: ReconcileResult = {
    plan: r.plan,
    plugins: noPlugins(),
    topology: compiled.topology,
    desired: compiled.desired,
    // Converged: what weft owns is what it wants (the verify pass saw it in every namespace it touched).
    observed: compiled.desired,
    observation: next.observation,
    owners: next.owners,
    pluginLinks: new Map(),
    applied: r.applied,
    durationMs: performance.now() - started,
    stats: { processes: ctx.kernel.stats.processes - before.processes, writes: ctx.kernel.stats.writes - before.writes },
  };
  return { result, baseline: next };
}

/** Two slices of desired state hold the same entries. */
function sameSlice(a: KernelState | undefined, b: KernelState | undefined): boolean {
  if (!a || !b) return a === b;
  for (const domain of Object.keys(a) as (keyof KernelState)[]) {
    const x = a[domain] as Record<string, unknown>;
    const y = b[domain] as Record<string, unknown>;
    const keys = Object.keys(x);
    if (keys.length !== Object.keys(y).length) return false;
    for (const k of keys) if (!(k in y) || JSON.stringify(x[k]) !== JSON.stringify(y[k])) return false;
  }
  return true;
}
