export { EtcdStore, parseStoreUrl, STORE_ROOT, endpointKey } from './etcd.js';
export type { StoreConfig } from './etcd.js';
export { localEndpoints, parseEndpoint } from './endpoints.js';
