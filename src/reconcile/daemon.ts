import type { PluginFailure, PluginWarning } from '../plugins/index.js';
import { formatProblem } from '../errors.js';
import type { WeftError } from '../errors.js';
import { CachingKernel } from '../kernel/index.js';
import type { KernelEvent, KernelWatch, KernelWatchHandlers } from '../kernel/index.js';
import { touchedNamespaces } from '../kernel/index.js';
import type { NetworkDriver, Topology } from '../compile/index.js';
import type { Model } from '../model/index.js';
import type { Provider } from '../providers/index.js';
import type { AnyEntry, KernelState, NsKey } from '../state/types.js';
import { DaemonMetrics } from './daemon-metrics.js';
import { DaemonRecord } from './daemon-record.js';
import type { DaemonError, LastReconcile } from './daemon-record.js';
import { KernelEventFilter } from './kernel-events.js';
import type { ReconcileOutcome } from './daemon-metrics.js';
import type { PlannedChange } from './plan.js';
import { nsRefsOf, reconcile } from './reconcile.js';
import type { ReconcileContext, ReconcileResult } from './reconcile.js';
import { makeBaseline, reconcileEdit, reconcileScoped } from './scoped.js';
import type { Baseline, ScopedResult } from './scoped.js';
import type { Batch, Timers, TriggerReason } from './trigger.js';
import { Trigger, realTimers } from './trigger.js';
import type { ManifestSource, SourceEvent, SourceInfo, SourceLoad } from './watch.js';
import { StoreSync } from './store-sync.js';
import type { EndpointCache, MembershipStore, RejectionSink, StoreStatus } from './store-sync.js';

/**
 * The watch daemon's loop: keeps the kernel equal to the manifests. It reconciles at start, when
 * the manifests change, when the kernel drifts (monitor events), on a periodic full resync and on
 * demand (SIGHUP). Reconciles are debounced and never overlap. Invalid manifests are reported and
 * skipped: the last good ones stay in force.
 *
 * Drift events re-read only the namespaces they name: the daemon's kernel caches every namespace
 * snapshot until an event, a write or a resync invalidates it. Events caused by weft's own writes
 * (during a write and a short grace after it, or nft changes by weft's own processes) do not
 * trigger anything.
 *
 * With a membership store (--store), every reconcile reads the other nodes' endpoints from it and
 * then publishes this node's; changes by other nodes trigger a reconcile (see store-sync.ts).
 */

export interface DaemonOptions {
  /** Remove what weft owns but the manifests no longer declare (apply --prune). */
  prune: boolean;
  /** Full resync period; 0 turns it off. */
  resyncMs: number;
  /** Quiet time after a manifest change, a kernel event and a store change before reconciling. */
  debounceMs: { manifest: number; drift: number; store: number };
  /** A steady stream of events still gets a reconcile this often. */
  maxWaitMs: number;
  /** Events this long after a write are taken as weft's own (monitors deliver within ~15 ms). */
  writeGraceMs: number;
  /**
   * Looking up unknown nsids (`ip netns list-id`) happens at most this often; weft learns the
   * nsids of its own namespaces right after creating them, so an unknown one is usually someone
   * else's (Docker's, CNI's) and its events are ignored.
   */
  nsIdRefreshMs: number;
  /** Retry after a failed reconcile, and probing an unreachable store: doubling from min up to max. */
  retryMs: { min: number; max: number };
  /** The longest a reconcile waits for the membership store before using the last known endpoints. */
  storeTimeoutMs: number;
}

export const defaultDaemonOptions: DaemonOptions = {
  prune: false,
  resyncMs: 60_000,
  debounceMs: { manifest: 100, drift: 50, store: 100 },
  maxWaitMs: 500,
  writeGraceMs: 30,
  nsIdRefreshMs: 5000,
  retryMs: { min: 500, max: 30_000 },
  storeTimeoutMs: 3000,
};

/**
 * The embedded DNS server as the daemon drives it: updated after every reconcile, its query
 * counters exported in /metrics, closed on shutdown.
 */
export interface DaemonDns {
  /**
   * After a reconcile that did not fail; `revision` is the manifests' revision in force, `peers`
   * changes whenever the endpoints learnt from the membership store change.
   */
  update(result: ReconcileResult, revision: string | undefined, peers?: number): void | Promise<void>;
  /** Queries answered so far, by response code (NOERROR, NXDOMAIN, SERVFAIL, ...). */
  queriesByRcode(): Record<string, number>;
  close(): Promise<void>;
}

export interface DaemonDeps {
  /** How to reconcile; its kernel is wrapped in a snapshot cache by the daemon. */
  ctx: ReconcileContext;
  source: ManifestSource;
  /** Starts the kernel monitors (default: none, the daemon then relies on the resync). */
  watchKernel?: (handlers: KernelWatchHandlers) => KernelWatch;
  /** nsid -> namespace name, as the host namespace numbers them; with `names`, at least those (given an id if they have none). */
  listNsIds?: (names?: readonly string[]) => Promise<Map<number, string>>;
  /** Network drivers for a model (a remote driver stand-in for each plugin name); default: the context's. */
  loadDrivers?: (model: Model) => Promise<ReadonlyMap<string, NetworkDriver>>;
  /** Whether a process (named by nft monitor) is weft's own. */
  isOwnProcess?: (pid: number) => boolean;
  dns?: DaemonDns;
  /** The membership store (--store): peers from it, this node's endpoints to it. */
  store?: MembershipStore;
  /** Where the last endpoints read from the store are kept across restarts (with `store`). */
  storeCache?: EndpointCache;
  /** Logs and counts store records the manifests do not vouch for (with `store`). */
  storeRejections?: RejectionSink;
  timers?: Timers;
  options?: Partial<DaemonOptions>;
}

export type { ReconcileOutcome };

export type { DaemonError };

export interface DaemonStatus {
  pid: number;
  startedAt: string;
  hostNetns: string;
  node?: string;
  source: SourceInfo & {
    /** The revision (git commit, or content hash of the files) in force: the last one that converged. */
    revision?: string;
    /** The newest revision seen (it differs from `revision` while it is skipped or being applied). */
    latest?: string;
    /** The last revision skipped because its manifests were invalid (history: it stays after a fix). */
    skipped?: { revision: string; at: string; error: string };
  };
  ready: boolean;
  lastReconcile?: LastReconcile;
  /** Objects weft owns on this host, by kind (bridge, veth, netns, address, ...). */
  owned: Record<string, number>;
  /** Objects kept although the manifests dropped their owner (watch without --prune). */
  orphans: number;
  reconciles: Record<ReconcileOutcome, number>;
  drift: {
    events: number;
    ownEventsIgnored: number;
    /** Events from namespaces that are not weft's (unnamed ones, such as Docker's and CNI's): ignored. */
    foreignEventsIgnored?: number;
    /** `ip netns list-id` runs to name nsids (at start, after creating namespaces, and for unknown ones at most every nsIdRefreshMs). */
    nsIdLookups?: number;
    repairs: number;
    repairedObjects: number;
    lastEventAt?: string;
  };
  error: DaemonError | null;
  errors: DaemonError[];
  dns?: { queries: Record<string, number> };
  /** Only with a membership store. */
  store?: StoreStatus;
  /**
   * Plugin networks (CNI, remote drivers): endpoints whose plugin failed in the last reconcile
   * (pending: retried with backoff; the rest of the host converged) and CHECK warnings.
   */
  plugins?: { pending: PluginFailure[]; warnings: PluginWarning[] };
}

/** Counts by noun of what a state holds: {bridge: 2, veth: 3, ...}. */
export function countOwned(state: KernelState, providers: readonly Provider[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of providers) {
    for (const e of Object.values(state[p.domain] as Record<string, AnyEntry>)) {
      const noun = p.describe(e as never).noun;
      out[noun] = (out[noun] ?? 0) + 1;
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** "+1 netns +2 veth ~1 bridge -1 address": what a plan changed, by action and noun. */
export function summarizeChanges(changes: readonly PlannedChange[], providers: readonly Provider[]): string {
  const counts = new Map<string, number>();
  const sign = { create: '+', update: '~', delete: '-' } as const;
  for (const c of changes) {
    const p = providers.find((x) => x.domain === c.domain);
    const e = (c.desired ?? c.observed) as AnyEntry;
    const noun = p ? p.describe(e as never).noun : c.domain;
    const k = `${sign[c.action]}${noun}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.entries()].map(([k, n]) => `${k[0]}${n} ${k.slice(1)}`).join(' ') || 'nothing';
}

const FULL_REASONS: readonly TriggerReason[] = ['start', 'resync', 'signal', 'retry'];

export class Daemon {
  readonly kernel: CachingKernel;
  readonly metrics: DaemonMetrics;
  private readonly ctx: ReconcileContext;
  private readonly opts: DaemonOptions;
  private readonly trigger: Trigger;
  private readonly timers: Timers;
  /** What /status and /metrics show (daemon-record.ts). */
  private readonly record: DaemonRecord;
  private readonly store: StoreSync | undefined;

  private model: Model | undefined;
  /** The drivers for a model: made again only when the model changes, not per reconcile. */
  private driversFor: { model: Model; drivers: Promise<ReadonlyMap<string, NetworkDriver>> } | undefined;
  private modelRevision: string | undefined;
  private readonly events: KernelEventFilter;
  /**
   * What the last full reconcile converged to, for drift passes over the namespaces events name
   * (reconcileScoped); dropped whenever a reconcile fails or the manifests or peers change.
   */
  private baseline: { model: Model; peers: number | undefined; topology: Topology; state: Baseline } | undefined;

  private monitor: KernelWatch | undefined;
  private resyncTimer: unknown;
  private retryTimer: unknown;
  private retryDelay: number;
  private stopping = false;

  constructor(private readonly deps: DaemonDeps) {
    this.opts = { ...defaultDaemonOptions, ...deps.options };
    this.timers = deps.timers ?? realTimers;
    this.retryDelay = this.opts.retryMs.min;
    this.events = new KernelEventFilter({
      ...(deps.listNsIds ? { listNsIds: deps.listNsIds } : {}),
      ...(deps.isOwnProcess ? { isOwnProcess: deps.isOwnProcess } : {}),
      timers: this.timers,
      nsIdRefreshMs: this.opts.nsIdRefreshMs,
      hostNetns: deps.ctx.hostNetns,
      invalidate: (ns, aspect) => this.kernel.invalidate(ns, aspect),
      drift: (e, ns) => this.onDrift(e, ns),
      own: (e) => this.noteOwn(e),
    });
    this.kernel = new CachingKernel(deps.ctx.kernel, {
      beforeRun: (program) => this.events.beginWrite(touchedNamespaces(program)),
      afterRun: async (program) => {
        // Wait out the delivery of our own events, and learn the nsids of new namespaces. The
        // reconcile's verify pass reads the written namespaces after this, so drift in them
        // during the window is still seen.
        const grace = new Promise((r) => setTimeout(r, this.opts.writeGraceMs));
        await Promise.all([grace, program.netnsAdd.length > 0 ? this.events.learnNsIds(program.netnsAdd) : undefined]);
        this.events.endWrite();
      },
    });
    this.store = deps.store
      ? new StoreSync(deps.store, {
          log: deps.ctx.log,
          timers: this.timers,
          onChange: () => this.trigger.poke('store'),
          ...(deps.storeCache ? { cache: deps.storeCache } : {}),
          ...(deps.storeRejections ? { rejections: deps.storeRejections } : {}),
          options: { timeoutMs: this.opts.storeTimeoutMs, retryMs: this.opts.retryMs },
        })
      : undefined;
    this.ctx = { ...deps.ctx, kernel: this.kernel, ...(this.store ? { peers: this.store.peers } : {}) };
    this.metrics = new DaemonMetrics(() => this.kernel.stats, () => deps.dns?.queriesByRcode());
    this.record = new DaemonRecord(this.metrics);
    const d = this.opts.debounceMs;
    this.trigger = new Trigger((b) => this.runBatch(b), {
      delayMs: { start: 0, manifest: d.manifest, drift: d.drift, resync: 0, signal: 0, retry: 0, store: d.store },
      maxWaitMs: this.opts.maxWaitMs,
      timers: this.timers,
    });
  }

  /** Starts watching and runs the first reconcile; resolves when that reconcile is done. */
  async start(): Promise<void> {
    if (this.deps.watchKernel) {
      this.monitor = this.deps.watchKernel({
        onEvent: (e) => this.events.accept(e),
        onRestart: () => this.trigger.poke('resync', 'all'),
      });
    }
    await Promise.all([this.events.learnNsIds(), this.monitor?.ready]);
    await this.store?.start();
    if (this.stopping) return; // stopped while starting: watch nothing
    this.deps.source.watch((e) => this.onSourceEvent(e));
    if (this.opts.resyncMs > 0) this.scheduleResync();
    this.trigger.poke('start', 'all');
    await this.trigger.idle();
  }

  /** Forces a full reconcile (SIGHUP): looks at the source again and re-reads every namespace. */
  async forceFull(): Promise<void> {
    await this.deps.source.refresh().catch(() => undefined);
    this.trigger.poke('signal', 'all');
  }

  /** Resolves when no reconcile is pending or running (tests, benchmarks). */
  idle(): Promise<void> {
    return this.trigger.idle();
  }

  /**
   * Stops: no new reconciles, the one under way finishes, watchers and monitors end. The network
   * stays as it is; with a membership store, this node withdraws its endpoints from it.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.resyncTimer !== undefined) this.timers.clearTimeout(this.resyncTimer);
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    this.events.stop();
    // Withdrawing from the store first: the peers wait for it (their entries for this node go
    // only then), while the rest only concerns this process.
    const withdrawn = this.store?.stop();
    await Promise.all([this.deps.source.close(), this.monitor?.stop(), withdrawn]);
    await this.trigger.stop();
    await this.deps.dns?.close();
  }

  ready(): boolean {
    return this.record.ready(this.store?.failureNow());
  }

  /** The manifests in force (the last valid ones), for read-only views such as /topology.svg. */
  currentModel(): Model | undefined {
    return this.model;
  }

  status(): DaemonStatus {
    const r = this.record;
    const errors = r.currentErrors(this.store?.failureNow());
    const source: DaemonStatus['source'] = { ...this.deps.source.info };
    if (r.appliedRevision !== undefined) source.revision = r.appliedRevision;
    if (r.latestRevision !== undefined) source.latest = r.latestRevision;
    if (r.skipped) source.skipped = r.skipped;
    const dns = this.deps.dns?.queriesByRcode();
    return {
      pid: process.pid,
      startedAt: r.startedAt.toISOString(),
      hostNetns: this.ctx.hostNetns,
      ...(this.ctx.node !== undefined ? { node: this.ctx.node } : {}),
      source,
      ready: this.ready(),
      ...(r.last ? { lastReconcile: r.last } : {}),
      owned: r.owned,
      orphans: r.orphans,
      reconciles: { ...r.counts },
      drift: {
        events: r.drift.events,
        ownEventsIgnored: r.drift.ownEventsIgnored,
        foreignEventsIgnored: this.events.counts.foreignEventsIgnored,
        nsIdLookups: this.events.counts.nsIdLookups,
        repairs: r.drift.repairs,
        repairedObjects: r.drift.repairedObjects,
        ...(r.drift.lastEventAt ? { lastEventAt: r.drift.lastEventAt } : {}),
      },
      error: errors[0] ?? null,
      errors,
      ...(dns ? { dns: { queries: dns } } : {}),
      ...(this.store ? { store: this.store.status() } : {}),
      ...(r.plugins.pending.length + r.plugins.warnings.length > 0 ? { plugins: r.plugins } : {}),
    };
  }

  /** /metrics: Prometheus text. */
  renderMetrics(): string {
    const r = this.record;
    return this.metrics.render({
      ready: this.ready(),
      owned: r.owned,
      ...(r.lastFinishedAt !== undefined ? { lastReconcileAt: r.lastFinishedAt } : {}),
      source: { kind: this.deps.source.info.kind, ...(r.appliedRevision !== undefined ? { revision: r.appliedRevision } : {}) },
      ...(this.store ? { store: this.store.status() } : {}),
      plugins: { pending: r.plugins.pending.length, checkWarnings: r.plugins.warnings.length },
    });
  }

  private scheduleResync(): void {
    this.resyncTimer = this.timers.setTimeout(() => {
      if (this.stopping) return;
      this.trigger.poke('resync', 'all');
      this.scheduleResync();
    }, this.opts.resyncMs);
  }

  private onSourceEvent(e: SourceEvent): void {
    if (this.stopping) return;
    if (e.kind === 'changed') this.trigger.poke('manifest');
    else if (e.kind === 'ok') this.record.clearError('source');
    else this.setError('source', e.error);
  }

  private setError(kind: DaemonError['kind'], err: WeftError | Error, extra: Partial<DaemonError> = {}): void {
    this.record.setError(kind, err, extra);
    if (kind === 'source') this.deps.ctx.log.error({ err: err.message }, 'manifest source failed; keeping the last good state');
  }

  // ---- kernel events ----

  /** Someone else changed a namespace weft reads: reconcile it. */
  private onDrift(e: KernelEvent, ns: NsKey): void {
    this.record.noteDrift(e);
    this.deps.ctx.log.debug({ source: e.source, object: e.object, ns, deleted: e.deleted, line: e.line }, 'kernel drift event');
    this.trigger.poke('drift', [ns]);
  }

  private noteOwn(e: KernelEvent): void {
    this.record.noteOwn(e);
  }

  // ---- one batch ----

  private async runBatch(batch: Batch): Promise<void> {
    const full = batch.dirty === 'all' || FULL_REASONS.some((r) => batch.reasons.has(r));
    // The dirty namespaces were forgotten as their events came (their tables only for nft events).
    if (full) this.kernel.invalidate('all');
    const reasons = [...batch.reasons];
    let changed = false;
    // Drift and store changes leave the manifests as they are.
    if (reasons.some((r) => r !== 'drift' && r !== 'store') || !this.model) changed = await this.loadManifests();
    if (!this.model) return; // nothing valid yet: wait for a good edit or commit
    // A manifest event that changed nothing valid (an invalid edit, a touch, a revert) needs no reconcile.
    if (!changed && reasons.every((r) => r === 'manifest') && this.record.lastOutcome !== 'failed') return;
    const topology = await this.reconcileOnce(batch, this.model);
    if (topology) await this.store?.afterReconcile(topology);
  }

  /** Loads the manifests; true when a new valid revision took over. Invalid ones are reported and skipped. */
  private async loadManifests(): Promise<boolean> {
    let loaded: SourceLoad;
    try {
      loaded = await this.deps.source.load();
    } catch (err) {
      this.setError('source', err as Error);
      return false;
    }
    this.record.clearError('source');
    this.record.latestRevision = loaded.revision;
    if (loaded.invalid) {
      const problems = loaded.invalid.problems.map(formatProblem);
      this.setError('manifest', loaded.invalid, { revision: loaded.revision, problems });
      if (this.record.skipped?.revision !== loaded.revision) {
        this.record.skipped = { revision: loaded.revision, at: new Date().toISOString(), error: loaded.invalid.message };
        this.metrics.manifestLoads.inc({ result: 'invalid' });
        this.deps.ctx.log.error({ revision: loaded.revision, problems }, 'manifests invalid; skipped, the last good state stays');
      }
      return false;
    }
    this.record.clearError('manifest');
    if (loaded.revision === this.modelRevision || !loaded.model) return false;
    this.model = loaded.model;
    this.modelRevision = loaded.revision;
    this.metrics.manifestLoads.inc({ result: 'valid' });
    return true;
  }

  /** One reconcile, reported; the topology it converged to, undefined when it failed. */
  private async reconcileOnce(batch: Batch, model: Model): Promise<Topology | undefined> {
    const started = new Date();
    const t0 = performance.now();
    const revision = this.modelRevision;
    const trigger = [...batch.reasons].sort();
    const log = this.deps.ctx.log;
    const reads = { ...this.kernel.reads };
    const before = { ...this.kernel.stats };
    let outcome: ReconcileOutcome;
    let changes = 0;
    let summary = 'nothing';
    let topology: Topology | undefined;
    try {
      const load = this.deps.loadDrivers;
      if (load && this.driversFor?.model !== model) {
        // A failed load is tried again by the next reconcile, as before.
        const drivers = load(model).catch((err: unknown) => {
          this.driversFor = undefined;
          throw err;
        });
        this.driversFor = { model, drivers };
      }
      const ctx = this.driversFor ? { ...this.ctx, drivers: await this.driversFor.drivers } : this.ctx;
      const scoped = await this.tryScoped(batch, model, ctx);
      if (scoped) {
        changes = scoped.plan.changes.length;
        summary = summarizeChanges(scoped.plan.changes, this.ctx.providers);
        outcome = changes > 0 ? 'applied' : 'converged';
        if (changes > 0) {
          this.record.noteRepair(changes);
          this.record.noteChanges(scoped.plan.changes);
        }
        this.record.clearError('reconcile');
        return this.reported(scoped.scope.length, outcome, changes, summary, { started, t0, revision, trigger, reads, before }, this.baseline?.topology);
      }
      const edit = await this.tryScopedEdit(batch, model, ctx);
      const result = edit?.result ?? (await reconcile(model, ctx, { prune: this.opts.prune, dryRun: false }));
      changes = result.plan.changes.length + result.plugins.changes.length;
      summary = summarizeChanges(result.plan.changes, this.ctx.providers);
      outcome = changes > 0 ? 'applied' : 'converged';
      this.record.owned = countOwned(result.observed, this.ctx.providers);
      this.record.orphans = result.plan.orphans.filter((o) => !o.implied).length;
      this.events.setKnown(new Set([...result.observation.nsRefs.keys(), ...[...result.topology.containers.values()].flatMap((c) => (c.ns ? [c.ns] : []))]));
      // The same manifests as last time, yet something to do: the kernel had drifted.
      if (changes > 0 && revision === this.record.appliedRevision) this.record.noteRepair(changes);
      if (revision !== this.record.appliedRevision && revision !== undefined) {
        this.record.appliedRevision = revision;
        await this.deps.source.recordApplied(revision).catch((err: Error) => log.warn({ err: err.message }, 'could not record the applied revision'));
      }
      this.record.clearError('reconcile');
      this.record.plugins = { pending: result.plugins.failures, warnings: result.plugins.warnings };
      // A plugin's failure is its network's: the rest converged; that network is retried with backoff.
      if (result.plugins.failures.length > 0) {
        for (const f of result.plugins.failures) log.warn({ network: f.network, container: f.container, err: f.message }, 'plugin failed; network pending');
        this.scheduleRetry();
      } else this.retryDelay = this.opts.retryMs.min;
      this.record.noteChanges(result.plan.changes);
      await this.deps.dns?.update(result, revision, this.store?.generation);
      topology = result.topology;
      this.baseline =
        result.pluginLinks.size === 0 && result.plugins.failures.length === 0
          ? { model, peers: this.store?.generation, topology, state: edit?.baseline ?? makeBaseline(result.desired, result.observation, nsRefsOf(result.topology), result.owners) }
          : undefined;
    } catch (err) {
      outcome = 'failed';
      this.baseline = undefined;
      this.setError('reconcile', err as Error, revision !== undefined ? { revision } : {});
      this.scheduleRetry();
    }
    return this.reported(undefined, outcome, changes, summary, { started, t0, revision, trigger, reads, before }, topology);
  }

  /**
   * A drift-only batch over the namespaces its events name, against the last full reconcile's
   * desired state (the manifests and the peers are unchanged). Undefined when the batch needs a
   * full reconcile, or when the drift pass failed (the full one then runs and reports).
   */
  private async tryScoped(batch: Batch, model: Model, ctx: ReconcileContext): Promise<ScopedResult | undefined> {
    const b = this.baseline;
    if (!b || batch.dirty === 'all' || [...batch.reasons].some((r) => r !== 'drift')) return undefined;
    if (b.model !== model || b.peers !== this.store?.generation || this.record.lastOutcome === 'failed') return undefined;
    try {
      return await reconcileScoped(b.state, ctx, batch.dirty, this.opts.prune);
    } catch (err) {
      this.baseline = undefined;
      this.deps.ctx.log.info({ err: (err as Error).message, namespaces: [...batch.dirty] }, 'drift pass did not converge; reconciling everything');
      return undefined;
    }
  }

  /**
   * A manifest edit (with drift, if any) as a scoped pass over the namespaces whose desired state
   * changed (reconcileEdit). Only from a converged baseline without orphans (their addresses are
   * not in it), without a membership store; undefined when the full reconcile must run.
   */
  private async tryScopedEdit(batch: Batch, model: Model, ctx: ReconcileContext): Promise<{ result: ReconcileResult; baseline: Baseline } | undefined> {
    const b = this.baseline;
    if (!b || batch.dirty === 'all' || !batch.reasons.has('manifest') || [...batch.reasons].some((r) => r !== 'manifest' && r !== 'drift')) return undefined;
    const r = this.record;
    if (b.model === model || this.store || r.orphans > 0 || r.lastOutcome === 'failed' || r.plugins.pending.length > 0) return undefined;
    try {
      return await reconcileEdit(b.state, model, ctx, this.opts.prune, batch.dirty);
    } catch (err) {
      this.baseline = undefined;
      this.deps.ctx.log.info({ err: (err as Error).message }, 'edit pass did not converge; reconciling everything');
      return undefined;
    }
  }

  /** Records and logs one reconcile's outcome; returns the topology it converged to. */
  private reported(
    scoped: number | undefined,
    outcome: ReconcileOutcome,
    changes: number,
    summary: string,
    at: { started: Date; t0: number; revision: string | undefined; trigger: TriggerReason[]; reads: { fresh: number; cached: number }; before: { processes: number; writes: number } },
    topology: Topology | undefined,
  ): Topology | undefined {
    const { started, t0, revision, trigger, reads, before } = at;
    const log = this.deps.ctx.log;
    const durationMs = performance.now() - t0;
    this.record.finish(outcome, { startedAt: started.toISOString(), durationMs, trigger, ...(revision !== undefined ? { revision } : {}), changes, summary });
    const fields = {
      trigger: trigger.join(','),
      result: outcome,
      revision,
      changes,
      summary,
      ms: Math.round(durationMs),
      processes: this.kernel.stats.processes - before.processes,
      writes: this.kernel.stats.writes - before.writes,
      nsRead: this.kernel.reads.fresh - reads.fresh,
      nsCached: this.kernel.reads.cached - reads.cached,
      // A drift pass: the namespaces it read and diffed (a full reconcile has none).
      ...(scoped !== undefined ? { scoped } : {}),
    };
    if (outcome === 'failed') log.error({ ...fields, err: this.record.error('reconcile')?.message }, 'reconcile failed');
    else log.info(fields, outcome === 'applied' ? 'reconcile applied' : 'reconcile converged');
    return topology;
  }

  private scheduleRetry(): void {
    if (this.stopping) return;
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.opts.retryMs.max, this.retryDelay * 2);
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopping) this.trigger.poke('retry', 'all');
    }, delay);
  }
}
