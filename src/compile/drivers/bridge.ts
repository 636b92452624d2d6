import type { Network } from '../../model/index.js';
import { Opt } from '../../model/index.js';
import { bridgeName } from '../../net/ids.js';
import { HOST } from '../../state/types.js';
import type { NsKey, Owner } from '../../state/types.js';
import type { StateBuilder } from '../state-builder.js';
import type { EndpointPlan } from '../topology.js';
import { aliases } from '../alias.js';
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
      out.address({ ns: HOST, dev: name, cidr, owner });
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

/** An endpoint's addresses on its interface in the container's namespace. */
export function endpointAddresses(ep: EndpointPlan, ns: NsKey, owner: Owner, out: StateBuilder): void {
  for (const a of [ep.ipv4, ep.ipv6]) {
    if (a) out.address({ ns, dev: ep.ifname, cidr: `${a.address}/${a.prefix}`, owner });
  }
}
