import type { Logger } from '../log.js';
import type { ReconcileResult } from '../reconcile/index.js';
import { localEndpoints } from '../store/endpoints.js';
import type { EtcdStore } from '../store/etcd.js';
import type { GlobalOptions } from './context.js';

/**
 * The membership store named by --store, or undefined. The etcd client (gRPC) is loaded only
 * then: importing it costs more than the rest of weft's start-up. Throws UsageError for a bad URL.
 */
export async function openStore(g: GlobalOptions, log: Logger): Promise<EtcdStore | undefined> {
  if (g.store === undefined) return undefined;
  const { EtcdStore: Store, parseStoreUrl } = await import('../store/etcd.js');
  return new Store(parseStoreUrl(g.store), log);
}

/**
 * After a successful apply: publish this node's endpoints on global networks (all of them, also
 * when nothing changed, which renews the lease); after destroy, publish none.
 */
export async function publishResult(store: EtcdStore, r: ReconcileResult, opts: { none?: boolean } = {}): Promise<void> {
  const node = r.topology.node;
  const address = r.topology.nodeAddress;
  if (node === undefined || address === undefined) return;
  await store.publish(node, address, opts.none ? [] : localEndpoints(r.topology));
}

/** Runs fn, then closes the store if there is one (keeping this node's lease: it expires on its own). */
export async function closing<T>(store: EtcdStore | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await store?.close();
  }
}
