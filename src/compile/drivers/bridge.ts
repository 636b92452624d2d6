import type { Network } from '../../model/index.js';
import { Opt } from '../../model/index.js';
import { bridgeName } from '../../net/ids.js';
import { HOST } from '../../state/types.js';
import type { NsKey, Owner } from '../../state/types.js';
import type { StateBuilder } from '../state-builder.js';
import type { EndpointPlan } from '../topology.js';
import { aliases } from '../../naming.js';
import { dockerDefaultPools } from '../ipam.js';
import { formatIp } from '../../net/cidr.js';
import type { NetworkDriver } from './types.js';

/** Docker's bridge driver: a Linux bridge with the gateway address, a veth pair per endpoint. */
export const bridgeDriver: NetworkDriver = {
  name: 'bridge',
  scope: 'local',
  defaultPools: dockerDefaultPools,
  hasEndpoints: true,
  gatewayOnHost: true,
  firewalled: true,
  defaultMtu: 1500,
  hostIfname: (n: Network) => n.options[Opt.bridgeName] ?? bridgeName(n.id),
  networkState(plan, _topology, out) {
    const name = plan.ifname;
    if (!name || !plan.materialize) return;
    const owner = { kind: 'network' as const, name: plan.network.name };
    out.link({ kind: 'bridge', ns: HOST, name, alias: aliases.network(plan.network.name), mtu: plan.mtu, up: true, owner });
    for (const pool of [...plan.pools.v4, ...plan.pools.v6]) {
      const cidr = `${formatIp(pool.subnet.family, pool.gateway)}/${pool.subnet.prefix}`;
      // The IPv6 gateway skips duplicate-address detection: on a bridge without ports it would
      // stay tentative (unusable) until the first container joins.
      out.address({ ns: HOST, dev: name, cidr, ...(pool.subnet.family === 6 ? { nodad: true } : {}), owner });
    }
  },
  endpointState(ep, ctr, plan, _topology, out) {
    if (!ctr.ns || !plan.ifname) return;
    const owner = { kind: 'container' as const, name: ctr.container.name };
    out.link({
      kind: 'veth',
      ns: HOST,
      name: ep.hostIfname,
      alias: aliases.endpoint(ep.container, ep.network),
      mtu: plan.mtu,
      up: true,
      master: plan.ifname,
      peer: { ns: ctr.ns, name: ep.ifname },
      addrgenmode: ep.ipv6 ? 'eui64' : 'none',
      ...(ep.hairpin ? { hairpin: true } : {}),
      owner,
    });
    out.link({ kind: 'veth-peer', ...containerSide(ep, ctr.ns, plan.mtu, owner) });
    endpointAddresses(ep, ctr.ns, owner, out);
  },
};

/** The settings of an endpoint's interface in the container's namespace (veth end or macvlan). */
export function containerSide(ep: EndpointPlan, ns: NsKey, mtu: number, owner: Owner) {
  // "none" keeps IPv6 link-local addresses (and their multicast floods) off IPv4-only endpoints.
  return { ns, name: ep.ifname, mac: ep.mac, mtu, up: true, addrgenmode: ep.ipv6 ? ('eui64' as const) : ('none' as const), owner };
}

/**
 * An endpoint's addresses on its interface in the container's namespace. IPv6 ones skip
 * duplicate-address detection (nodad, as Docker adds them): IPAM already made them unique, and
 * a tentative address cannot be bound or used as a source for about a second.
 */
export function endpointAddresses(ep: EndpointPlan, ns: NsKey, owner: Owner, out: StateBuilder): void {
  if (ep.ipv4) out.address({ ns, dev: ep.ifname, cidr: `${ep.ipv4.address}/${ep.ipv4.prefix}`, owner });
  if (!ep.ipv6) return;
  out.address({ ns, dev: ep.ifname, cidr: `${ep.ipv6.address}/${ep.ipv6.prefix}`, nodad: true, owner });
  // No duplicate-address detection for the link-local address either, and no router
  // advertisements or SLAAC: the container's addresses and routes are weft's alone.
  for (const name of ['accept_dad', 'accept_ra']) {
    out.sysctl({ ns, path: `net/ipv6/conf/${ep.ifname}/${name}`, dev: ep.ifname, value: '0', owner });
  }
}
