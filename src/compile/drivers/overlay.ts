import type { Network } from '../../model/index.js';
import { vniOf } from '../../model/index.js';
import type { Owner } from '../../state/types.js';
import { HOST } from '../../state/types.js';
import { aliases } from '../../naming.js';
import { overlayDefaultPools } from '../ipam.js';
import type { NetworkPlan, Topology } from '../topology.js';
import type { StateBuilder } from '../state-builder.js';
import { bridgeDriver } from './bridge.js';
import type { NetworkDriver } from './types.js';

/** IANA's VXLAN port, as Docker uses it. */
export const VXLAN_PORT = 4789;
const BROADCAST_MAC = '00:00:00:00:00:00';

/** The overlay network's bridge in the host namespace: "ov-" and 12 hex of the network id. */
export function overlayBridgeName(n: Network): string {
  return `ov-${n.id.slice(0, 12)}`;
}

/** The overlay network's VXLAN device, a port of its bridge: "vx-" and 12 hex of the network id. */
export function vxlanName(n: Network): string {
  return `vx-${n.id.slice(0, 12)}`;
}

/**
 * Docker's overlay driver over VXLAN (UDP 4789), without a control plane: on each node that runs
 * containers of the network, a bridge with a VXLAN port (no learning, ARP/ND answered by the
 * device). Remote containers, known from the manifests (or the membership store), are programmed
 * statically: an FDB entry from their MAC to their host's underlay address and a permanent
 * neighbour entry for their IP. Broadcast reaches every peer host through one all-zero FDB entry
 * per peer. The host itself has no address on the network (as in Docker, where the bridge lives in
 * a namespace of its own): containers leave through docker_gwbridge.
 */
export const overlayDriver: NetworkDriver = {
  name: 'overlay',
  scope: 'global',
  defaultPools: overlayDefaultPools,
  hasEndpoints: true,
  providesGateway: false,
  // 1500 minus the 50 bytes of VXLAN encapsulation over an IPv4 underlay.
  defaultMtu: 1450,
  hostIfname: overlayBridgeName,
  networkState(plan, topology, out) {
    if (!plan.materialize || !plan.ifname) return;
    const network = plan.network;
    const owner = { kind: 'network' as const, name: network.name };
    const vx = vxlanName(network);
    out.link({ kind: 'bridge', ns: HOST, name: plan.ifname, alias: aliases.network(network.name), mtu: plan.mtu, up: true, owner });
    out.link({
      kind: 'vxlan',
      ns: HOST,
      name: vx,
      alias: aliases.network(network.name),
      mtu: plan.mtu,
      up: true,
      master: plan.ifname,
      vni: vniOf(network),
      ...(topology.nodeAddress !== undefined ? { local: topology.nodeAddress } : {}),
      dstport: VXLAN_PORT,
      learning: false,
      proxy: true,
      ...(network.enableIPv6 ? { addrgenmode: 'none' as const } : {}),
      owner,
    });
    quiet(plan.ifname, owner, out);
    // An IPv6 overlay's VXLAN device keeps IPv6 for its neighbour entries (the kernel refuses
    // them where IPv6 is disabled); with no address of its own it stays as quiet as disabled.
    if (network.enableIPv6) out.sysctl({ ns: HOST, path: `net/ipv6/conf/${vx}/disable_ipv6`, dev: vx, value: '0', owner });
    else quiet(vx, owner, out);
    programPeers(plan, topology, vx, out);
  },
  // Containers join the overlay's bridge with a veth pair, as on a bridge network.
  endpointState(ep, ctr, plan, topology, out) {
    bridgeDriver.endpointState?.(ep, ctr, plan, topology, out);
    if (ctr.ns && plan.ifname) quiet(ep.hostIfname, { kind: 'container', name: ctr.container.name }, out);
  },
};

/**
 * The host takes no part in an overlay network: no IPv6 on its side of it either, or every
 * host-side link would send router solicitations and MLD reports, which the broadcast entries
 * carry to every peer.
 */
function quiet(dev: string, owner: Owner, out: StateBuilder): void {
  out.sysctl({ ns: HOST, path: `net/ipv6/conf/${dev}/disable_ipv6`, dev, value: '1', owner });
}

/** FDB and neighbour entries for every remote endpoint, and one broadcast entry per peer host. */
function programPeers(plan: NetworkPlan, topology: Topology, dev: string, out: StateBuilder): void {
  const owner = { kind: 'network' as const, name: plan.network.name };
  const peers = new Set<string>();
  for (const ctr of topology.containers.values()) {
    const dst = ctr.hostAddress;
    if (ctr.local || dst === undefined || dst === topology.nodeAddress) continue;
    for (const ep of ctr.endpoints) {
      if (ep.network !== plan.network.name) continue;
      peers.add(dst);
      out.fdb({ ns: HOST, dev, mac: ep.mac, dst, owner });
      for (const a of [ep.ipv4, ep.ipv6]) if (a) out.neigh({ ns: HOST, dev, address: a.address, lladdr: ep.mac, owner });
    }
  }
  for (const dst of peers) out.fdb({ ns: HOST, dev, mac: BROADCAST_MAC, dst, owner });
}
