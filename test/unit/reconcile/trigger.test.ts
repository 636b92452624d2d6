import { describe, expect, it } from 'vitest';
import type { Batch, Timers, TriggerReason } from '../../../src/reconcile/index.js';
import { Trigger } from '../../../src/reconcile/index.js';

/** A clock the test moves by hand. */
class ManualTimers implements Timers {
  t = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  /** Moves time forward, running due timers in order (and letting their promises settle). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.pending.entries()].filter(([, p]) => p.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

const delays: Record<TriggerReason, number> = { start: 0, manifest: 100, drift: 50, resync: 0, signal: 0, retry: 0 };

function setup(runMs = 0) {
  const timers = new ManualTimers();
  const runs: { at: number; reasons: string[]; dirty: string[] | 'all' }[] = [];
  let release: (() => void) | undefined;
  const trigger = new Trigger(
    async (b: Batch) => {
      runs.push({ at: timers.now(), reasons: [...b.reasons].sort(), dirty: b.dirty === 'all' ? 'all' : [...b.dirty].sort() });
      if (runMs > 0) await new Promise<void>((r) => (release = r));
    },
    { delayMs: delays, maxWaitMs: 500, timers },
  );
  return { timers, runs, trigger, finishRun: () => release?.() };
}

describe('Trigger: debounce and serialise reconciles', () => {
  it('waits for the quiet time of a drift event, then runs once with every dirty namespace', async () => {
    const { timers, runs, trigger } = setup();
    trigger.poke('drift', ['a']);
    await timers.advance(30);
    trigger.poke('drift', ['b']);
    await timers.advance(30);
    expect(runs).toEqual([]);
    await timers.advance(25); // 50 ms after the last event
    expect(runs).toEqual([{ at: 80, reasons: ['drift'], dirty: ['a', 'b'] }]);
  });

  it('a steady stream of events still runs after maxWait', async () => {
    const { timers, runs, trigger } = setup();
    for (let i = 0; i < 30; i++) {
      trigger.poke('drift', [`n${i}`]);
      await timers.advance(20);
    }
    expect(runs[0]?.at).toBe(500);
    expect(runs.length).toBeGreaterThanOrEqual(1);
  });

  it('an immediate reason (signal) does not wait for a pending debounce', async () => {
    const { timers, runs, trigger } = setup();
    trigger.poke('manifest');
    await timers.advance(10);
    trigger.poke('signal', 'all');
    await timers.advance(0);
    expect(runs).toEqual([{ at: 10, reasons: ['manifest', 'signal'], dirty: 'all' }]);
  });

  it('a debounced poke after an immediate one does not delay it', async () => {
    const { timers, runs, trigger } = setup();
    trigger.poke('resync', 'all');
    trigger.poke('drift', ['x']);
    await timers.advance(0);
    expect(runs).toEqual([{ at: 0, reasons: ['drift', 'resync'], dirty: 'all' }]);
  });

  it('never runs two batches at once: pokes during a run form the next batch', async () => {
    const { timers, runs, trigger, finishRun } = setup(1);
    trigger.poke('start', 'all');
    await timers.advance(0);
    expect(runs).toHaveLength(1);
    trigger.poke('drift', ['a']);
    trigger.poke('manifest');
    await timers.advance(1000);
    expect(runs).toHaveLength(1); // still running
    finishRun();
    await flush();
    await timers.advance(0); // the next batch is overdue: it runs at once
    expect(runs).toHaveLength(2);
    expect(runs[1]).toMatchObject({ reasons: ['drift', 'manifest'], dirty: ['a'] });
    finishRun();
    await flush();
    await trigger.idle();
  });

  it('idle() resolves when nothing is pending or running; stop() drops what is pending', async () => {
    const { timers, runs, trigger } = setup();
    let idle = false;
    trigger.poke('drift', ['a']);
    void trigger.idle().then(() => (idle = true));
    await flush();
    expect(idle).toBe(false);
    await timers.advance(50);
    expect(idle).toBe(true);
    trigger.poke('drift', ['b']);
    await trigger.stop();
    await timers.advance(1000);
    expect(runs).toHaveLength(1);
    trigger.poke('signal');
    await timers.advance(10);
    expect(runs).toHaveLength(1);
  });

  it('a failing run does not stop later batches', async () => {
    const timers = new ManualTimers();
    let n = 0;
    const trigger = new Trigger(
      async () => {
        n++;
        if (n === 1) throw new Error('boom');
      },
      { delayMs: delays, maxWaitMs: 500, timers },
    );
    trigger.poke('start');
    await timers.advance(0);
    trigger.poke('retry');
    await timers.advance(0);
    expect(n).toBe(2);
  });
});
