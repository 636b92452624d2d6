import { bridgeDriver } from './bridge.js';
import { hostDriver, nullDriver } from './builtin.js';
import type { NetworkDriver } from './types.js';

export type { NetworkDriver } from './types.js';

/** The drivers built into weft, by Docker's driver name. */
export const builtinDrivers: ReadonlyMap<string, NetworkDriver> = new Map(
  [bridgeDriver, hostDriver, nullDriver].map((d) => [d.name, d]),
);
