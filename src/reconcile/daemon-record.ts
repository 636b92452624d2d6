import type { WeftError } from '../errors.js';
import type { KernelEvent } from '../kernel/index.js';
import type { PluginFailure, PluginWarning } from '../plugins/index.js';
import type { DaemonMetrics, ReconcileOutcome } from './daemon-metrics.js';
import type { PlannedChange } from './plan.js';
import type { TriggerReason } from './trigger.js';

/** One error the daemon shows on /status until what caused it is over. */
export interface DaemonError {
  kind: 'manifest' | 'source' | 'reconcile' | 'store';
  message: string;
  at: string;
  revision?: string;
  /** Invalid manifests: every problem, as file:line:col lines. */
  problems?: string[];
}

/** The last reconcile, as /status shows it. */
export interface LastReconcile {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  result: ReconcileOutcome;
  trigger: TriggerReason[];
  revision?: string;
  changes: number;
  summary: string;
}

/**
 * What the daemon knows about itself, for /status and /metrics: each reconcile's outcome, drift
 * counters, errors in force, owned objects and orphans, plugin endpoints pending, the revisions
 * seen and applied. The daemon's loop (daemon.ts) decides what to reconcile and when, and writes
 * here; nothing here decides anything.
 */
export class DaemonRecord {
  readonly startedAt = new Date();
  /** The revision in force: the last one that converged. */
  appliedRevision: string | undefined;
  /** The newest revision seen. */
  latestRevision: string | undefined;
  /** The last revision skipped because its manifests were invalid (history: it stays after a fix). */
  skipped: { revision: string; at: string; error: string } | undefined;
  last: LastReconcile | undefined;
  lastOutcome: ReconcileOutcome | undefined;
  lastFinishedAt: number | undefined;
  owned: Record<string, number> = {};
  orphans = 0;
  plugins: { pending: PluginFailure[]; warnings: PluginWarning[] } = { pending: [], warnings: [] };
  readonly counts: Record<ReconcileOutcome, number> = { converged: 0, applied: 0, failed: 0 };
  readonly drift = { events: 0, ownEventsIgnored: 0, repairs: 0, repairedObjects: 0, lastEventAt: undefined as string | undefined };
  private readonly errors: Partial<Record<DaemonError['kind'], DaemonError>> = {};

  constructor(private readonly metrics: DaemonMetrics) {}

  setError(kind: DaemonError['kind'], err: WeftError | Error, extra: Partial<DaemonError> = {}): void {
    this.errors[kind] = { kind, message: err.message, at: new Date().toISOString(), ...extra };
  }

  clearError(kind: DaemonError['kind']): void {
    delete this.errors[kind];
  }

  error(kind: DaemonError['kind']): DaemonError | undefined {
    return this.errors[kind];
  }

  /** The errors in force, the store's failure (if any) last. */
  currentErrors(storeFailure?: { message: string; at: string }): DaemonError[] {
    const out = (['manifest', 'source', 'reconcile'] as const).map((k) => this.errors[k]).filter((e): e is DaemonError => e !== undefined);
    if (storeFailure) out.push({ kind: 'store', message: storeFailure.message, at: storeFailure.at });
    return out;
  }

  /** Someone else changed a namespace weft reads. */
  noteDrift(e: KernelEvent): void {
    this.drift.events++;
    this.drift.lastEventAt = new Date().toISOString();
    this.metrics.driftEvents.inc({ source: e.source });
  }

  /** An event of weft's own write. */
  noteOwn(e: KernelEvent): void {
    this.drift.ownEventsIgnored++;
    this.metrics.ownEvents.inc({ source: e.source });
  }

  /** The manifests had not changed, yet a reconcile changed something: the kernel had drifted. */
  noteRepair(changes: number): void {
    this.drift.repairs++;
    this.drift.repairedObjects += changes;
    this.metrics.driftRepairs.inc();
    this.metrics.driftRepairedObjects.inc({}, changes);
  }

  noteChanges(changes: readonly PlannedChange[]): void {
    for (const c of changes) this.metrics.changes.inc({ action: c.action });
  }

  /** One reconcile is over. */
  finish(outcome: ReconcileOutcome, r: Omit<LastReconcile, 'finishedAt' | 'result' | 'durationMs'> & { durationMs: number }): void {
    this.counts[outcome]++;
    this.lastOutcome = outcome;
    this.last = {
      startedAt: r.startedAt,
      finishedAt: new Date().toISOString(),
      durationMs: Math.round(r.durationMs * 10) / 10,
      result: outcome,
      trigger: r.trigger,
      ...(r.revision !== undefined ? { revision: r.revision } : {}),
      changes: r.changes,
      summary: r.summary,
    };
    this.lastFinishedAt = Date.now();
    this.metrics.recordReconcile(outcome, r.durationMs / 1000);
  }

  /** Ready: a reconcile has converged or applied, and no error is in force. */
  ready(storeFailure?: { message: string; at: string }): boolean {
    return this.lastOutcome !== undefined && this.lastOutcome !== 'failed' && this.currentErrors(storeFailure).length === 0;
  }
}
