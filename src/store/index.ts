export { EtcdStore, parseStoreUrl, publishChange, STORE_ROOT, endpointKey, storeChange } from './etcd.js';
export type { StoreConfig } from './etcd.js';
export { canonicalEndpoint, localEndpoints, parseEndpoint, sameEndpoints } from './endpoints.js';
export type { StoreChange } from './endpoints.js';
export { EndpointCacheFile } from './cache.js';
export { ZkStore, parseZkUrl, parseMember, memberChanges } from './zookeeper.js';
export type { ZkStoreConfig, MemberRecord } from './zookeeper.js';
export { openStoreUrl } from './open.js';
export type { StoreClient } from './open.js';
