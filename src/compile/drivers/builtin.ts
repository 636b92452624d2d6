import type { NetworkDriver } from './types.js';

/** Docker's "host" driver: the container shares the host's namespace; nothing to create. */
export const hostDriver: NetworkDriver = { name: 'host', scope: 'local', hasEndpoints: false, defaultMtu: 1500 };

/** Docker's "null" driver (network "none"): a namespace with loopback only. */
export const nullDriver: NetworkDriver = { name: 'null', scope: 'local', hasEndpoints: false, defaultMtu: 1500 };
