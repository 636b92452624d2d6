import { describe, expect, it } from 'vitest';
import type { KernelEvent } from '../../../src/kernel/index.js';
import { KernelEventFilter } from '../../../src/reconcile/kernel-events.js';
import { realTimers } from '../../../src/reconcile/trigger.js';

const ev = (nsid: number | null, extra: Partial<KernelEvent> = {}): KernelEvent => ({ source: 'ip', object: 'address', nsid, deleted: true, noise: false, line: 'x', ...extra });

function filter(lookup: (names?: readonly string[]) => Map<number, string>, isOwnProcess?: (pid: number) => boolean) {
  const seen = { drift: [] as string[], own: 0, invalidated: [] as string[], lookups: [] as (readonly string[] | undefined)[] };
  const f = new KernelEventFilter({
    listNsIds: async (names) => {
      seen.lookups.push(names);
      return lookup(names);
    },
    ...(isOwnProcess ? { isOwnProcess } : {}),
    timers: realTimers,
    nsIdRefreshMs: 10_000,
    hostNetns: 'h1',
    invalidate: (ns) => seen.invalidated.push(...ns),
    drift: (_e, ns) => seen.drift.push(ns),
    own: () => seen.own++,
  });
  return { f, seen };
}

describe('the kernel-event filter (event -> dirty namespace, own write, or nothing)', () => {
  it("learning only new namespaces' nsids keeps the ones known; a full lookup replaces them", async () => {
    const all = new Map([[1, 'h1-a'], [2, 'h1-b']]);
    const { f, seen } = filter((names) => (names ? new Map([...all].filter(([, n]) => names.includes(n))) : new Map(all)));
    await f.learnNsIds();
    all.set(3, 'h1-c');
    await f.learnNsIds(['h1-c']);
    expect(seen.lookups).toEqual([undefined, ['h1-c']]);
    f.accept(ev(1));
    f.accept(ev(3));
    expect(seen.drift).toEqual(['h1-a', 'h1-c']);
    all.delete(1);
    await f.learnNsIds();
    f.accept(ev(1)); // no longer named: looked up later, not drift now
    expect(seen.drift).toEqual(['h1-a', 'h1-c']);
    f.stop();
  });

  it("during a write, events in the namespaces it touches are weft's own; elsewhere drift; noise is nothing", async () => {
    const { f, seen } = filter(() => new Map([[1, 'h1-a'], [2, 'h1-b']]));
    await f.learnNsIds();
    f.beginWrite(['h1-a']);
    f.accept(ev(1));
    f.accept(ev(null)); // the host is always part of a write
    f.accept(ev(2));
    f.accept(ev(2, { noise: true }));
    f.endWrite();
    f.accept(ev(1));
    expect(seen.own).toBe(2);
    expect(seen.drift).toEqual(['h1-b', 'h1-a']);
    // every event about a namespace weft reads forgets its snapshot, its own included
    expect(seen.invalidated).toEqual(['h1-a', '@host', 'h1-b', 'h1-a']);
    f.stop();
  });

  it("an nftables commit by weft's own thread is its own, also after the write window", async () => {
    const { f, seen } = filter(() => new Map(), (pid) => pid === 42);
    await f.learnNsIds();
    f.accept(ev(null, { source: 'nft', object: 'nft', pid: 42 }));
    f.accept(ev(null, { source: 'nft', object: 'nft', pid: 7 }));
    expect(seen.own).toBe(1);
    expect(seen.drift).toEqual(['@host']);
    f.stop();
  });

  it("a named namespace that is not weft's (no host prefix, not read) is ignored", async () => {
    const { f, seen } = filter(() => new Map([[5, 'someone-else']]));
    await f.learnNsIds();
    f.accept(ev(5));
    expect(seen.drift).toEqual([]);
    f.setKnown(new Set(['someone-else']));
    f.accept(ev(5));
    expect(seen.drift).toEqual(['someone-else']);
    f.stop();
  });
});
