import type { Problem } from '../../errors.js';
import { contains, containsCidr, formatCidr, isReserved, overlaps } from '../../net/cidr.js';
import { problemAt, sub } from '../build.js';
import type { Model, Network } from '../types.js';

/** Each pool is well-formed: no host bits, gateway and ipRange inside the subnet, IPv6 enabled for IPv6 pools. */
export function poolShapes(model: Model): Problem[] {
  const out: Problem[] = [];
  for (const n of declared(model)) {
    for (const p of n.pools) {
      const s = p.subnet;
      if (s.hostBitsSet) {
        out.push(problemAt(sub(p.src, 'subnet'), 'SUBNET_HOST_BITS', `network "${n.name}": subnet has host bits set`, `write the network address, ${formatCidr(s)}`));
      }
      if (s.family === 6 && !n.enableIPv6) {
        out.push(problemAt(sub(p.src, 'subnet'), 'IPV6_DISABLED', `network "${n.name}": IPv6 subnet ${formatCidr(s)} on a network without IPv6`, 'set spec.enableIPv6: true or remove the subnet'));
      }
      if ((s.family === 4 && s.prefix > 30) || (s.family === 6 && s.prefix > 126)) {
        out.push(problemAt(sub(p.src, 'subnet'), 'SUBNET_TOO_SMALL', `network "${n.name}": subnet ${formatCidr(s)} has no room for a gateway and containers`, `use a larger subnet (at most /${s.family === 4 ? 30 : 126})`));
      }
      if (p.gateway) {
        const g = p.gateway.value;
        if (!contains(s, s.family, g)) {
          out.push(problemAt(sub(p.src, 'gateway'), 'GATEWAY_OUTSIDE', `network "${n.name}": gateway ${p.gateway.text} is outside subnet ${formatCidr(s)}`, 'choose a gateway inside the subnet'));
        } else if (isReserved(s, g)) {
          out.push(problemAt(sub(p.src, 'gateway'), 'GATEWAY_RESERVED', `network "${n.name}": gateway ${p.gateway.text} is the network or broadcast address of ${formatCidr(s)}`, 'choose a host address, e.g. the first one'));
        }
      }
      if (p.ipRange && !containsCidr(s, p.ipRange)) {
        out.push(problemAt(sub(p.src, 'ipRange'), 'RANGE_OUTSIDE', `network "${n.name}": ipRange ${formatCidr(p.ipRange)} is outside subnet ${formatCidr(s)}`, 'choose a range inside the subnet'));
      }
    }
  }
  return out;
}

/** No two subnets overlap, within a network or across networks (the default bridge's 172.17.0.0/16 included). */
export function subnetOverlaps(model: Model): Problem[] {
  const out: Problem[] = [];
  const all = [...model.networks.values()].flatMap((n) => n.pools.map((p) => ({ n, p })));
  for (let i = 0; i < all.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = all[i];
      const b = all[j];
      if (!a || !b || !overlaps(a.p.subnet, b.p.subnet)) continue;
      // Report on the declared side; if both are declared, on the later one.
      const [here, other] = a.n.declared ? [a, b] : [b, a];
      if (!here.n.declared) continue;
      const what = here.n === other.n ? 'another subnet of the same network' : `network "${other.n.name}" (${formatCidr(other.p.subnet)})`;
      out.push(problemAt(sub(here.p.src, 'subnet'), 'SUBNET_OVERLAP', `network "${here.n.name}": subnet ${formatCidr(here.p.subnet)} overlaps ${what}`, 'choose another subnet'));
    }
  }
  return out;
}

function declared(model: Model): Network[] {
  return [...model.networks.values()].filter((n) => n.declared);
}
