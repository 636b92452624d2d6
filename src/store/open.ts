import type { Logger } from '../log.js';
import type { EtcdStore, EtcdStoreOptions } from './etcd.js';
import type { ZkStore } from './zookeeper.js';

/** A membership store client: etcd or ZooKeeper, with the same methods (see each file). */
export type StoreClient = EtcdStore | ZkStore;

/**
 * The store a --store URL names: zk:// is ZooKeeper, anything else goes to the etcd parser (which
 * says what it accepts). Each client library is loaded only when used: etcd's (gRPC) costs more
 * than the rest of weft's start-up. Throws UsageError for a bad URL.
 */
export async function openStoreUrl(url: string, log: Logger, etcdOptions?: EtcdStoreOptions): Promise<StoreClient> {
  if (url.startsWith('zk://')) {
    const { ZkStore: Store, parseZkUrl } = await import('./zookeeper.js');
    return new Store(parseZkUrl(url), log);
  }
  const { EtcdStore: Store, parseStoreUrl } = await import('./etcd.js');
  return new Store(parseStoreUrl(url), log, etcdOptions);
}
