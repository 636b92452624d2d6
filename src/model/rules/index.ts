import type { Problem } from '../../errors.js';
import type { Model } from '../types.js';
import { cniNetworks } from './cni.js';
import { exclusiveNetworks } from './exclusive-networks.js';
import { fieldValues } from './field-values.js';
import { hostAddresses } from './hosts.js';
import { macvlanNetworks } from './macvlan.js';
import { validNames } from './names.js';
import { optionValues } from './options.js';
import { gwbridgeShape, overlayEncryption, overlayPlacement, overlayVnis } from './overlay.js';
import { publishedPorts } from './ports.js';
import { predefinedNetworks } from './predefined.js';
import { references } from './references.js';
import { staticAddresses } from './static-addresses.js';
import { poolShapes, subnetOverlaps } from './subnets.js';

export type Rule = (model: Model) => Problem[];

/** Every cross-object rule, each a small named function. Documented in specs/validation.md. */
export const rules: readonly Rule[] = [
  validNames,
  predefinedNetworks,
  references,
  exclusiveNetworks,
  poolShapes,
  subnetOverlaps,
  staticAddresses,
  optionValues,
  publishedPorts,
  hostAddresses,
  overlayVnis,
  overlayPlacement,
  overlayEncryption,
  gwbridgeShape,
  macvlanNetworks,
  cniNetworks,
  fieldValues,
];

export function checkRules(model: Model, extra: readonly Rule[] = []): Problem[] {
  return [...rules, ...extra].flatMap((rule) => rule(model));
}
