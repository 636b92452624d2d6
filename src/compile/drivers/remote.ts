import type { Network } from '../../model/index.js';
import { dockerDefaultPools } from '../ipam.js';
import type { NetworkDriver } from './types.js';

/**
 * A Docker remote network driver (any driver name that is not built in): a plugin process makes
 * the endpoints, called by the plugin phase (src/plugins/docker) after the container's namespace
 * exists. Compile gives the network weft's IPAM (unless it names an IPAM plugin) and no kernel
 * objects of its own. Pure: naming a driver loads and runs nothing.
 */
export function remoteDriver(name: string): NetworkDriver {
  return { name, scope: 'local', hasEndpoints: true, plugin: name, defaultMtu: 1500, defaultPools: dockerDefaultPools };
}

/**
 * The drivers for the networks of a model: the built-in ones by name, and a remote driver for
 * every other name. Pure.
 */
export function driversFor(builtin: ReadonlyMap<string, NetworkDriver>, names: Iterable<string>): Map<string, NetworkDriver> {
  const out = new Map(builtin);
  for (const name of names) if (!out.has(name)) out.set(name, remoteDriver(name));
  return out;
}

/**
 * weft allocates the network's subnets and its endpoints' addresses: built-in drivers, and remote
 * drivers without an IPAM plugin (Docker's default). CNI plugins and IPAM plugins do their own. Pure.
 */
export function weftAllocates(driver: NetworkDriver, network: Pick<Network, 'ipamDriver'>): boolean {
  return driver.plugin === undefined || (driver.plugin !== 'cni' && network.ipamDriver === 'default');
}
