import type { Container, LegacyLink, Network } from '../model/index.js';
import type { NsKey } from '../state/types.js';
import type { NetworkPools } from './ipam.js';
import type { NetworkDriver } from './drivers/types.js';

/**
 * The compiled topology: every decision compile makes (names, addresses, MACs, placement) in one
 * place, before it is turned into kernel state. DNS records, `network inspect` and the firewall
 * read this too, so they always agree with the kernel state.
 */

export interface IpAssignment {
  /** Canonical address text. */
  address: string;
  prefix: number;
  /** The gateway of the pool the address came from. */
  gateway: string;
}

export interface NetworkPlan {
  network: Network;
  driver: NetworkDriver;
  pools: NetworkPools;
  /** The host-side interface (bridge name for the bridge driver), if the driver has one. */
  ifname?: string;
  mtu: number;
  /** Created on this host: declared networks always; the default bridge only when used. */
  materialize: boolean;
  /**
   * The host interface the network sits on (options.parent, for macvlan), and the 802.1q
   * sub-interface weft creates when the parent is "eth0.50" and does not exist yet.
   */
  parent?: { name: string; vlan?: { base: string; vlanId: number } };
}

export interface EndpointPlan {
  container: string;
  network: string;
  endpointId: string;
  /** Interface name inside the container: eth0, eth1, ... in manifest order. */
  ifname: string;
  /** Host-side interface (veth) name, hashed. */
  hostIfname: string;
  mac: string;
  ipv4?: IpAssignment;
  ipv6?: IpAssignment;
  aliases: string[];
  links: LegacyLink[];
  /**
   * The container's published ports are DNATed to this endpoint: its bridge port sends frames
   * back out where they came in (hairpin), so the container reaches its own published ports.
   */
  hairpin?: boolean;
}

export type ContainerMode = 'netns' | 'host';

export interface ContainerPlan {
  container: Container;
  /** Placed on this node; remote containers are known (DNS, overlay peers) but not created here. */
  local: boolean;
  /** Where the container is known from: the manifests, or another node's entry in the membership store. */
  source: 'manifest' | 'store';
  /** For remote containers: the underlay (VTEP) address of the host that runs it. */
  hostAddress?: string;
  mode: ContainerMode;
  /** Namespace key in the kernel state (the netns name weft creates, or a key for an attached one). */
  ns?: NsKey;
  /** The path to enter the namespace: /run/netns/<name>, or the attached path. */
  nsPath?: string;
  /** weft created the namespace (and so owns and may delete it). */
  ownsNetns: boolean;
  endpoints: EndpointPlan[];
  defaultRoute4?: EndpointPlan;
  defaultRoute6?: EndpointPlan;
}

export interface Topology {
  hostNetns: string;
  node?: string;
  /** This node's underlay (VTEP) address, from its Host manifest. */
  nodeAddress?: string;
  networks: Map<string, NetworkPlan>;
  containers: Map<string, ContainerPlan>;
}
