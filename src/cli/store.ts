import type { Logger } from '../log.js';
import type { ReconcileResult } from '../reconcile/index.js';
import { localEndpoints } from '../store/endpoints.js';
import { openStoreUrl } from '../store/open.js';
import type { StoreClient } from '../store/open.js';
import type { GlobalOptions } from './context.js';

/**
 * The membership store named by --store (etcd:// or zk://), or undefined. Its client library is
 * loaded only then. Throws UsageError for a bad URL.
 */
export async function openStore(g: GlobalOptions, log: Logger): Promise<StoreClient | undefined> {
  if (g.store === undefined) return undefined;
  return openStoreUrl(g.store, log);
}

/**
 * After a successful apply: publish this node's endpoints on global networks (all of them, also
 * when nothing changed, which renews the lease); after destroy, publish none.
 */
export async function publishResult(store: StoreClient, r: ReconcileResult, opts: { none?: boolean } = {}): Promise<void> {
  const node = r.topology.node;
  const address = r.topology.nodeAddress;
  if (node === undefined || address === undefined) return;
  await store.publish(node, address, opts.none ? [] : localEndpoints(r.topology));
}

/** Runs fn, then closes the store if there is one (keeping this node's lease: it expires on its own). */
export async function closing<T>(store: StoreClient | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await store?.close();
  }
}
