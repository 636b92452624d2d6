import type { Problem } from '../../errors.js';
import { isValidIfname } from '../../net/ids.js';
import { problemAt, sub } from '../build.js';
import type { Model } from '../types.js';
import { Opt } from '../types.js';

/** Docker's rule for container and network names; also keeps names usable as DNS labels and netns names. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX = 63;

function checkName(kind: string, name: string): string | undefined {
  if (!NAME.test(name)) return `${kind} name "${name}" has characters that are not allowed`;
  if (name.length > MAX) return `${kind} name "${name}" is longer than ${MAX} characters`;
  return undefined;
}

/** Names must make valid namespace, interface and DNS names. */
export function validNames(model: Model): Problem[] {
  const out: Problem[] = [];
  const hint = 'use letters, digits, "_", "." and "-", starting with a letter or digit, at most 63 characters';
  for (const n of model.networks.values()) {
    if (!n.src) continue;
    const bad = checkName('network', n.name);
    if (bad) out.push(problemAt(sub(n.src, 'metadata', 'name'), 'BAD_NAME', bad, hint));
    const br = n.options[Opt.bridgeName];
    if (br !== undefined && !isValidIfname(br)) {
      out.push(problemAt(sub(n.src, 'spec', 'options', Opt.bridgeName), 'BAD_IFNAME', `network "${n.name}": bridge name "${br}" is not a valid interface name`, 'use at most 15 letters, digits, "_", "-" or "."'));
    }
  }
  for (const c of model.containers.values()) {
    const bad = checkName('container', c.name);
    if (bad) out.push(problemAt(sub(c.src, 'metadata', 'name'), 'BAD_NAME', bad, hint));
  }
  for (const h of model.hosts.values()) {
    const bad = checkName('host', h.name);
    if (bad) out.push(problemAt(sub(h.src, 'metadata', 'name'), 'BAD_NAME', bad, hint));
  }
  return out;
}
