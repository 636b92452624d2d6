import { macvlanMode } from '../../model/index.js';
import { HOST } from '../../state/types.js';
import { aliases } from '../../naming.js';
import { containerSide, endpointAddresses } from './bridge.js';
import type { NetworkDriver } from './types.js';

/**
 * Docker's macvlan driver: each container gets a macvlan interface on the network's parent (an
 * existing host interface, or "eth0.50", the 802.1q sub-interface weft creates), created straight
 * into the container's namespace. The gateway is a router on the parent's segment, not the host.
 * As with any macvlan, the host cannot reach its own macvlan containers through the parent.
 */
export const macvlanDriver: NetworkDriver = {
  name: 'macvlan',
  scope: 'local',
  hasEndpoints: true,
  providesGateway: true,
  defaultMtu: 1500,
  networkState(plan, _topology, out) {
    const vlan = plan.parent?.vlan;
    if (!plan.materialize || !plan.parent || !vlan) return;
    out.link({
      kind: 'vlan',
      ns: HOST,
      name: plan.parent.name,
      alias: aliases.network(plan.network.name),
      up: true,
      parent: vlan.base,
      vlanId: vlan.vlanId,
      owner: { kind: 'network', name: plan.network.name },
    });
  },
  endpointState(ep, ctr, plan, _topology, out) {
    const parent = plan.parent?.name;
    if (!ctr.ns || !parent) return;
    const owner = { kind: 'container' as const, name: ctr.container.name };
    out.link({
      kind: 'macvlan',
      ...containerSide(ep, ctr.ns, plan.mtu, owner),
      alias: aliases.endpoint(ep.container, ep.network),
      parent,
      mode: macvlanMode(plan.network),
    });
    endpointAddresses(ep, ctr.ns, owner, out);
  },
};
