import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressLine } from '../../../src/cli/progress.js';
import { FakeWorld, yaml } from '../../support/world.js';

function stream(isTTY: boolean) {
  const out: string[] = [];
  return { isTTY, out, write: (t: string) => out.push(t) };
}

describe('progress line', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('on a terminal: nothing for the first second, then "done/total objects" redrawn in place, erased at the end', () => {
    const s = stream(true);
    const p = new ProgressLine(s, { delayMs: 1000, intervalMs: 0 });
    p.update(0, 400);
    vi.advanceTimersByTime(500);
    p.update(50, 400);
    expect(s.out).toEqual([]);
    vi.advanceTimersByTime(600);
    expect(s.out).toEqual(['\r\x1b[Kweft: 50/400 objects']);
    p.update(120, 400);
    expect(s.out.at(-1)).toBe('\r\x1b[Kweft: 120/400 objects');
    p.update(400, 400);
    expect(s.out.at(-1)).toBe('\r\x1b[K');
    p.update(10, 400);
    vi.advanceTimersByTime(5000);
    expect(s.out).toHaveLength(3);
  });

  it('a run shorter than the delay draws nothing', () => {
    const s = stream(true);
    const p = new ProgressLine(s, { delayMs: 1000 });
    p.update(0, 10);
    vi.advanceTimersByTime(300);
    p.update(10, 10);
    p.stop();
    vi.advanceTimersByTime(5000);
    expect(s.out).toEqual([]);
  });

  it('redraws at most every interval', () => {
    const s = stream(true);
    const p = new ProgressLine(s, { delayMs: 0, intervalMs: 100 });
    p.update(0, 100);
    vi.advanceTimersByTime(1);
    for (let i = 1; i < 50; i++) p.update(i, 100);
    expect(s.out).toHaveLength(1);
    vi.advanceTimersByTime(150);
    p.update(60, 100);
    expect(s.out).toHaveLength(2);
    p.stop();
  });

  it('nothing when the stream is not a terminal, or logs are JSON', () => {
    for (const [s, opts] of [
      [stream(false), {}],
      [stream(true), { jsonLogs: true }],
    ] as const) {
      const p = new ProgressLine(s, { delayMs: 0, ...opts });
      p.update(0, 400);
      vi.advanceTimersByTime(2000);
      p.update(200, 400);
      p.stop();
      expect(s.out).toEqual([]);
    }
  });
});

describe('progress of an apply', { timeout: 30_000 }, () => {
  it('counts kernel objects, from 0 to all planned, never backwards', async () => {
    const calls: [number, number][] = [];
    const w = new FakeWorld('h1', { progress: (d, t) => calls.push([d, t]) });
    const r = await w.apply(yaml.network('n', '{}') + yaml.container('a', '{networks: [n]}') + yaml.container('b', '{networks: [n, bridge]}'));
    const total = r.plan.changes.length;
    expect(calls[0]).toEqual([0, total]);
    expect(calls.at(-1)).toEqual([total, total]);
    expect(calls.every(([d, t], i) => t === total && d <= t && (i === 0 || d >= calls[i - 1]![0]))).toBe(true);
  });
});
