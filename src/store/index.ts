export { EtcdStore, parseStoreUrl, STORE_ROOT, endpointKey, storeChange } from './etcd.js';
export type { StoreConfig } from './etcd.js';
export { canonicalEndpoint, localEndpoints, parseEndpoint, sameEndpoints } from './endpoints.js';
export type { StoreChange } from './endpoints.js';
export { EndpointCacheFile } from './cache.js';
