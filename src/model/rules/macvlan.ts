import type { Problem } from '../../errors.js';
import { formatCidr } from '../../net/cidr.js';
import { isValidIfname } from '../../net/ids.js';
import { problemAt, sub } from '../build.js';
import { MACVLAN_MODES } from '../overlay.js';
import type { Model } from '../types.js';
import { Opt } from '../types.js';

/**
 * macvlan networks, as Docker requires: a parent interface (one network per parent), a known
 * mode, and every IPv4 pool with a subnet and a gateway (the router on the parent's segment).
 */
export function macvlanNetworks(model: Model): Problem[] {
  const out: Problem[] = [];
  const parents = new Map<string, string>();
  for (const n of model.networks.values()) {
    if (n.driver !== 'macvlan' || !n.src) continue;
    const opts = sub(n.src, 'spec', 'options');
    const parent = n.options[Opt.parent];
    if (parent === undefined) {
      out.push(problemAt(sub(n.src, 'spec'), 'PARENT_REQUIRED', `macvlan network "${n.name}" names no parent interface`, 'set options.parent to a host interface, e.g. eth0, or eth0.50 for VLAN 50'));
    } else if (!isValidIfname(parent)) {
      out.push(problemAt(sub(opts, Opt.parent), 'BAD_IFNAME', `network "${n.name}": parent "${parent}" is not a valid interface name`, 'use at most 15 letters, digits, "_", "-" or "."'));
    } else if (parents.has(parent)) {
      out.push(problemAt(sub(opts, Opt.parent), 'PARENT_IN_USE', `network "${n.name}": parent interface "${parent}" is already network "${parents.get(parent)}"'s`, 'as in Docker, give each macvlan network its own parent (e.g. another VLAN: eth0.51)'));
    } else parents.set(parent, n.name);
    const mode = n.options[Opt.macvlanMode];
    if (mode !== undefined && !MACVLAN_MODES.some((m) => m === mode)) {
      out.push(problemAt(sub(opts, Opt.macvlanMode), 'BAD_OPTION', `network "${n.name}": ${Opt.macvlanMode} is "${mode}"`, `use one of ${MACVLAN_MODES.join(', ')}`));
    }
    const v4 = n.pools.filter((p) => p.subnet.family === 4);
    if (v4.length === 0) {
      out.push(problemAt(sub(n.src, 'spec'), 'MACVLAN_SUBNET', `macvlan network "${n.name}" declares no IPv4 subnet`, 'add ipam.config with the subnet and gateway of the parent\'s segment, e.g. {subnet: 192.168.1.0/24, gateway: 192.168.1.1}'));
    }
    for (const p of v4) {
      if (!p.gateway) out.push(problemAt(p.src, 'MACVLAN_SUBNET', `macvlan network "${n.name}": subnet ${formatCidr(p.subnet)} has no gateway`, 'add the gateway: the router on the parent\'s segment'));
    }
  }
  return out;
}
