import type { Problem } from '../../errors.js';
import { problemAt, sub } from '../build.js';
import type { Model } from '../types.js';

const required: Record<string, string> = { bridge: 'bridge', host: 'host', none: 'null' };

/** Docker's predefined networks keep their drivers; "host" and "none" cannot be customised at all. */
export function predefinedNetworks(model: Model): Problem[] {
  const out: Problem[] = [];
  for (const [name, driver] of Object.entries(required)) {
    const n = model.networks.get(name);
    if (!n?.declared || !n.src) continue;
    if (n.driver !== driver) {
      out.push(problemAt(sub(n.src, 'spec', 'driver'), 'PREDEFINED_DRIVER', `network "${name}" is predefined with driver "${driver === 'null' ? 'none' : driver}" and cannot use driver "${n.driver}"`, `remove the driver or give your network another name`));
    } else if (name !== 'bridge' && (n.pools.length > 0 || Object.keys(n.options).length > 0 || n.internal)) {
      out.push(problemAt(sub(n.src, 'spec'), 'PREDEFINED_FIXED', `network "${name}" is predefined and has no settings to change`, `remove this document, or declare a network with another name`));
    }
  }
  return out;
}
