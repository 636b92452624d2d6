import { bridgeDriver } from './bridge.js';
import { hostDriver, nullDriver } from './builtin.js';
import { cniDriver } from './cni.js';
import { macvlanDriver } from './macvlan.js';
import { overlayDriver } from './overlay.js';
import type { NetworkDriver } from './types.js';

export type { NetworkDriver } from './types.js';

/** The drivers built into weft, by Docker's driver name. */
export const builtinDrivers: ReadonlyMap<string, NetworkDriver> = new Map(
  [bridgeDriver, hostDriver, nullDriver, overlayDriver, macvlanDriver, cniDriver].map((d) => [d.name, d]),
);
