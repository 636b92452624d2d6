import type { NsKey } from '../state/types.js';

/**
 * Why the daemon reconciles: its start, a manifest change (files or a new git commit), kernel
 * drift (a monitor event), the periodic resync, a signal (SIGHUP), or a retry after a failure.
 */
export type TriggerReason = 'start' | 'manifest' | 'drift' | 'resync' | 'signal' | 'retry';

/** What one reconcile is asked to do: everything that piled up since the last one. */
export interface Batch {
  reasons: Set<TriggerReason>;
  /** Namespaces to read again; 'all' drops every cached snapshot. */
  dirty: Set<NsKey> | 'all';
}

/** Timer functions, injectable so tests can drive time. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface TriggerOptions {
  /** Quiet time per reason before a batch runs (0: at once). Events keep extending it... */
  delayMs: Record<TriggerReason, number>;
  /** ...but never beyond this long after the first pending event (a steady stream still converges). */
  maxWaitMs: number;
  timers?: Timers;
}

/**
 * Debounces and serialises reconciles: pokes pile up into one batch, which runs after its quiet
 * time; only one batch runs at a time, and pokes that arrive meanwhile form the next batch. Pure
 * scheduling logic: the work itself is the `run` callback.
 */
export class Trigger {
  private pending: Batch | undefined;
  private pendingSince = 0;
  private fireAt = 0;
  private quietUntil = 0;
  /** The pending batch holds a reason that runs at once. */
  private immediate = false;
  private timer: unknown;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly timers: Timers;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly run: (batch: Batch) => Promise<void>,
    private readonly opts: TriggerOptions,
  ) {
    this.timers = opts.timers ?? realTimers;
  }

  /** Asks for a reconcile; `dirty` names the namespaces to read again (default: none). */
  poke(reason: TriggerReason, dirty: Iterable<NsKey> | 'all' = []): void {
    if (this.stopped) return;
    const now = this.timers.now();
    if (!this.pending) {
      this.pending = { reasons: new Set(), dirty: new Set() };
      this.pendingSince = now;
      this.quietUntil = now;
      this.immediate = false;
    }
    this.pending.reasons.add(reason);
    if (dirty === 'all' || this.pending.dirty === 'all') this.pending.dirty = 'all';
    else for (const k of dirty) this.pending.dirty.add(k);

    const delay = this.opts.delayMs[reason];
    if (delay === 0) this.immediate = true;
    // A debounced reason extends the quiet time, but never beyond maxWaitMs after the first poke.
    else this.quietUntil = Math.max(this.quietUntil, now + delay);
    this.fireAt = this.immediate ? now : Math.min(this.pendingSince + this.opts.maxWaitMs, this.quietUntil);
    this.schedule();
  }

  /** Whether a batch is waiting or running. */
  busy(): boolean {
    return this.pending !== undefined || this.running !== undefined;
  }

  /** Resolves once nothing is pending or running. */
  idle(): Promise<void> {
    if (!this.busy()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops what is pending and waits for the batch under way to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    await this.running;
    this.notifyIdle();
  }

  private schedule(): void {
    if (this.running || !this.pending) return; // runs when the batch under way finishes
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    const wait = Math.max(0, this.fireAt - this.timers.now());
    this.timer = this.timers.setTimeout(() => this.fire(), wait);
  }

  private fire(): void {
    this.timer = undefined;
    const batch = this.pending;
    if (!batch || this.stopped) return;
    this.pending = undefined;
    this.running = this.run(batch)
      .catch(() => undefined) // the run callback reports its own failures
      .finally(() => {
        this.running = undefined;
        if (this.pending && !this.stopped) this.schedule();
        else this.notifyIdle();
      });
  }

  private notifyIdle(): void {
    if (this.busy()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
