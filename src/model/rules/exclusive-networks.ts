import type { Problem } from '../../errors.js';
import { problemAt, sub } from '../build.js';
import type { Model } from '../types.js';

/** As in Docker: a container on the host or none network cannot join any other network. */
export function exclusiveNetworks(model: Model): Problem[] {
  const out: Problem[] = [];
  for (const c of model.containers.values()) {
    if (c.endpoints.length < 2) continue;
    for (const e of c.endpoints) {
      const driver = model.networks.get(e.network)?.driver;
      if (driver === 'host' || driver === 'null') {
        out.push(problemAt(e.src, 'EXCLUSIVE_NETWORK', `container "${c.name}" joins "${e.network}" together with other networks`, `a container on "${e.network}" can be on no other network; remove "${e.network}" or the others`, true));
      }
    }
    if (c.netns !== undefined && c.endpoints.some((e) => model.networks.get(e.network)?.driver === 'host')) {
      out.push(problemAt(sub(c.src, 'spec', 'netns'), 'NETNS_ON_HOST', `container "${c.name}" attaches a namespace but is on the host network`, 'remove spec.netns or choose another network'));
    }
  }
  return out;
}
