import type { Problem } from '../../errors.js';
import { problemAt, sub } from '../build.js';
import type { Model } from '../types.js';

/** Containers may only name networks, hosts and link targets that exist. */
export function references(model: Model): Problem[] {
  const out: Problem[] = [];
  const networks = [...model.networks.keys()].sort().join(', ');
  for (const c of model.containers.values()) {
    const seen = new Set<string>();
    for (const e of c.endpoints) {
      if (!model.networks.has(e.network)) {
        out.push(problemAt(e.src, 'UNKNOWN_NETWORK', `container "${c.name}": network "${e.network}" is not declared`, `declare a Network named "${e.network}" or use one of: ${networks}`, true));
      }
      if (seen.has(e.network)) {
        out.push(problemAt(e.src, 'DUPLICATE_ENDPOINT', `container "${c.name}" joins network "${e.network}" twice`, 'list each network once'));
      }
      seen.add(e.network);
      e.links.forEach((l, i) => {
        if (!model.containers.has(l.container)) {
          out.push(problemAt(sub(e.src, 'links', i), 'UNKNOWN_CONTAINER', `container "${c.name}": link to container "${l.container}", which is not declared`, 'declare that container or remove the link'));
        } else if (l.container === c.name) {
          out.push(problemAt(sub(e.src, 'links', i), 'SELF_LINK', `container "${c.name}" links to itself`, 'remove the link'));
        }
      });
    }
    if (c.host !== undefined && !model.hosts.has(c.host)) {
      const hosts = [...model.hosts.keys()];
      out.push(problemAt(sub(c.src, 'spec', 'host'), 'UNKNOWN_HOST', `container "${c.name}": host "${c.host}" is not declared`, hosts.length > 0 ? `use one of: ${hosts.sort().join(', ')}` : `declare a Host named "${c.host}" or remove spec.host`));
    }
  }
  for (const h of model.hosts.values()) {
    (h.networks ?? []).forEach((n, i) => {
      if (!model.networks.has(n)) {
        out.push(problemAt(sub(h.src, 'spec', 'networks', i), 'UNKNOWN_NETWORK', `host "${h.name}": network "${n}" is not declared`, `declare a Network named "${n}" or use one of: ${networks}`));
      }
    });
  }
  return out;
}
