import type { Problem } from '../../errors.js';
import { parseIp } from '../../net/cidr.js';
import { problemAt, sub } from '../build.js';
import type { Model } from '../types.js';

/** Host addresses are IPv4 underlay addresses, one per host. */
export function hostAddresses(model: Model): Problem[] {
  const out: Problem[] = [];
  const seen = new Map<string, string>();
  for (const h of model.hosts.values()) {
    const src = sub(h.src, 'spec', 'address');
    if (parseIp(h.address)?.family !== 4) {
      out.push(problemAt(src, 'BAD_IP', `host "${h.name}": address "${h.address}" is not an IPv4 address`, 'write the host\'s underlay (VTEP) address, e.g. 192.168.77.2'));
      continue;
    }
    const other = seen.get(h.address);
    if (other) out.push(problemAt(src, 'ADDRESS_IN_USE', `host "${h.name}": address ${h.address} is also host "${other}"'s`, 'give each host its own address'));
    else seen.set(h.address, h.name);
  }
  return out;
}
