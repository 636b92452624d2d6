import type { NetworkDriver } from './types.js';

/**
 * driver: cni. CNI plugins (separate executables) make the endpoints: compile gives them no
 * addresses and no kernel objects, only an attachment each (compile/attachments.ts) that the
 * plugin phase (src/plugins) hands to the plugins after the container's namespace exists.
 */
export const cniDriver: NetworkDriver = { name: 'cni', scope: 'local', hasEndpoints: true, plugin: 'cni', defaultMtu: 1500 };
