import { InternalError } from '../errors.js';
import type { NsKey } from '../state/types.js';
import type { Kernel, KernelProgram, KernelStats, NsReadRequest, NsSnapshot, NsSockets, ProgressFn, ReadBack } from './types.js';
import { workWrites } from './types.js';

/** Called around every write, so the daemon can tell its own kernel events from drift. */
export interface WriteHooks {
  beforeRun?(program: KernelProgram): void;
  /** Awaited before run() returns (the daemon waits out its own events' delivery here). */
  afterRun?(program: KernelProgram): Promise<void>;
}

interface CachedRead {
  /** The request it answers: a different sysctl or table list needs a fresh read. */
  signature: string;
  snapshot: NsSnapshot;
  /**
   * Links, addresses, routes, neighbours or sysctls changed, nftables did not: the next read asks
   * the kernel for everything but the tables and keeps these (listing the host's tables, with an
   * element per published port, costs more than the rest of its read).
   */
  ipStale?: boolean;
}

/** What changed in a namespace: its tables too ('all'), or only what rtnetlink and /proc/sys hold ('ip'). */
export type StaleAspect = 'all' | 'ip';

/**
 * A Kernel that keeps the last snapshot of every namespace it read and serves it again until the
 * namespace is invalidated: by a kernel event naming it, by a write of its own, or wholesale (a
 * full resync). The watch daemon uses it so that a drift event re-reads only the namespaces the
 * event names, not all of them. Never caches a missing namespace. Writes and other reads pass
 * through unchanged.
 */
export class CachingKernel implements Kernel {
  private readonly cache = new Map<NsKey, CachedRead>();
  /** Bumped by every invalidation: a read that started before one is not cached. */
  private readonly generation = new Map<NsKey, number>();
  private epoch = 0;
  /** Namespace reads served from the cache and read from the kernel, for status and tests. */
  readonly reads = { cached: 0, fresh: 0 };

  constructor(
    private readonly inner: Kernel,
    private readonly hooks: WriteHooks = {},
  ) {}

  get stats(): KernelStats {
    return this.inner.stats;
  }

  /** Forgets the given namespaces (or only their non-nftables part), or everything. */
  invalidate(keys: Iterable<NsKey> | 'all', aspect: StaleAspect = 'all'): void {
    if (keys === 'all') {
      this.cache.clear();
      this.epoch++;
      return;
    }
    for (const k of keys) {
      const hit = this.cache.get(k);
      if (hit && aspect === 'ip') hit.ipStale = true;
      else this.cache.delete(k);
      this.generation.set(k, (this.generation.get(k) ?? 0) + 1);
    }
  }

  /** The namespaces a read would serve from the cache alone (for tests). */
  cachedKeys(): NsKey[] {
    return [...this.cache].filter(([, c]) => !c.ipStale).map(([k]) => k).sort();
  }

  openDnsSockets(path: string, address: string, port: number): Promise<NsSockets | null> {
    if (!this.inner.openDnsSockets) return Promise.reject(new InternalError('this kernel cannot open sockets inside namespaces'));
    return this.inner.openDnsSockets(path, address, port);
  }

  listNetns(): Promise<string[]> {
    return this.inner.listNetns();
  }

  readFiles(paths: readonly string[]): Promise<Map<string, string | null>> {
    return this.inner.readFiles(paths);
  }

  listDir(path: string): Promise<string[]> {
    return this.inner.listDir(path);
  }

  netnsIntents(): Promise<Set<string>> {
    return this.inner.netnsIntents?.() ?? Promise.resolve(new Set());
  }

  async readNamespaces(reqs: readonly NsReadRequest[]): Promise<Map<string, NsSnapshot | null>> {
    const out = new Map<string, NsSnapshot | null>();
    const missing: NsReadRequest[] = [];
    /** Tables kept from the cache for namespaces whose tables did not change. */
    const keptNft = new Map<NsKey, NsSnapshot['nft']>();
    for (const r of reqs) {
      const hit = this.cache.get(r.ns.key);
      if (hit && hit.signature === signature(r)) {
        if (!hit.ipStale) {
          out.set(r.ns.key, hit.snapshot);
          this.reads.cached++;
          continue;
        }
        keptNft.set(r.ns.key, hit.snapshot.nft);
      }
      missing.push(r);
    }
    if (missing.length === 0) return out;
    const epoch = this.epoch;
    const gens = new Map(missing.map((r) => [r.ns.key, this.generation.get(r.ns.key) ?? 0]));
    const fresh = await this.inner.readNamespaces(missing.map((r) => (keptNft.has(r.ns.key) ? { ...r, nftTables: [] } : r)));
    this.reads.fresh += missing.length;
    for (const r of missing) {
      const read = fresh.get(r.ns.key) ?? null;
      const nft = keptNft.get(r.ns.key);
      const snap = read && nft ? { ...read, nft } : read;
      out.set(r.ns.key, snap);
      // Invalidated while the read was under way: the snapshot may predate the change.
      const unchanged = epoch === this.epoch && gens.get(r.ns.key) === (this.generation.get(r.ns.key) ?? 0);
      if (snap && unchanged) this.cache.set(r.ns.key, { signature: signature(r), snapshot: snap });
    }
    return out;
  }

  async run(program: KernelProgram, progress?: ProgressFn): Promise<ReadBack | void> {
    const touched = touchedNamespaces(program);
    // Namespaces whose nftables the program leaves alone keep their cached tables.
    const withNft = new Set([...program.netnsAdd, ...program.netnsDelete]);
    for (const w of [program.host, ...(program.early ?? []), ...program.containers]) if (w.nft.length > 0) withNft.add(w.ns.key);
    const invalidate = () => {
      this.invalidate(touched.filter((k) => withNft.has(k)));
      this.invalidate(touched.filter((k) => !withNft.has(k)), 'ip');
    };
    invalidate();
    this.hooks.beforeRun?.(program);
    try {
      // The snapshots the writers read back go to the caller's verify pass, as without the cache.
      return await this.inner.run(program, progress);
    } finally {
      invalidate();
      await this.hooks.afterRun?.(program);
    }
  }
}

function signature(r: NsReadRequest): string {
  return JSON.stringify([r.ns.path, [...r.sysctls].sort(), (r.nftTables ?? []).map((t) => `${t.family} ${t.name}`).sort()]);
}

/** Every namespace a program writes to (or creates, deletes, waits in). Pure. */
export function touchedNamespaces(p: KernelProgram): NsKey[] {
  const out = new Set<NsKey>([...p.netnsAdd, ...p.netnsDelete]);
  for (const w of [p.host, ...(p.early ?? []), ...p.containers]) if (workWrites(w) > 0) out.add(w.ns.key);
  for (const g of p.awaitGone) out.add(g.ns.key);
  return [...out];
}
