import type { Problem } from '../../errors.js';
import { contains, formatCidr, isReserved, parseIp } from '../../net/cidr.js';
import type { Family } from '../../net/cidr.js';
import { problemAt, sub } from '../build.js';
import type { Model } from '../types.js';

/**
 * Static addresses (ipv4Address, ipv6Address): valid, inside a subnet of their network, not its
 * gateway or reserved addresses, not used twice; and, as in Docker, only on user-defined networks.
 */
export function staticAddresses(model: Model): Problem[] {
  const out: Problem[] = [];
  const used = new Map<string, string>(); // "network|address" -> container
  for (const c of model.containers.values()) {
    for (const e of c.endpoints) {
      const n = model.networks.get(e.network);
      if (!n) continue;
      for (const [field, family] of [['ipv4Address', 4], ['ipv6Address', 6]] as const) {
        const text = e[field];
        if (text === undefined) continue;
        const src = sub(e.src, field);
        const ip = parseIp(text);
        if (!ip || ip.family !== family) {
          out.push(problemAt(src, 'BAD_IP', `container "${c.name}": ${field} "${text}" is not an IPv${family} address`, `write an IPv${family} address inside the network's subnet`));
          continue;
        }
        if (n.predefined) {
          out.push(problemAt(src, 'STATIC_ON_DEFAULT', `container "${c.name}": a static address on network "${n.name}"`, 'as in Docker, static addresses work on user-defined networks only; declare a network'));
          continue;
        }
        if (family === 6 && !n.enableIPv6) {
          out.push(problemAt(src, 'IPV6_DISABLED', `container "${c.name}": ipv6Address on network "${n.name}", which has no IPv6`, 'set enableIPv6: true on the network or remove the address'));
          continue;
        }
        const pools = n.pools.filter((p) => p.subnet.family === family);
        const pool = pools.find((p) => contains(p.subnet, family as Family, ip.value));
        if (pools.length === 0) {
          out.push(problemAt(src, 'STATIC_NEEDS_SUBNET', `container "${c.name}": static ${field} on network "${n.name}", which declares no IPv${family} subnet`, 'declare the subnet in the network\'s ipam.config, as Docker requires'));
          continue;
        }
        if (!pool) {
          out.push(problemAt(src, 'ADDRESS_OUTSIDE', `container "${c.name}": ${text} is outside the subnets of network "${n.name}" (${pools.map((p) => formatCidr(p.subnet)).join(', ')})`, 'choose an address inside the subnet'));
          continue;
        }
        // Without a declared gateway, the first address is the gateway (as in Docker).
        const gateway = pool.gateway?.value ?? pool.subnet.base + 1n;
        if (isReserved(pool.subnet, ip.value) || gateway === ip.value) {
          out.push(problemAt(src, 'ADDRESS_RESERVED', `container "${c.name}": ${text} is the ${gateway === ip.value ? 'gateway' : 'network or broadcast address'} of network "${n.name}"`, 'choose another address'));
          continue;
        }
        const key = `${n.name}|${family}|${ip.value}`;
        const holder = used.get(key);
        if (holder !== undefined) {
          out.push(problemAt(src, 'ADDRESS_IN_USE', `container "${c.name}": ${text} on network "${n.name}" is already given to container "${holder}"`, 'give each container its own address'));
        } else used.set(key, c.name);
      }
      if (n.predefined && n.name === 'bridge' && e.aliases.length > 0) {
        out.push(problemAt(sub(e.src, 'aliases'), 'ALIAS_ON_DEFAULT', `container "${c.name}": aliases on the default bridge network`, 'as in Docker, aliases work on user-defined networks only; use links or declare a network'));
      }
    }
  }
  return out;
}
