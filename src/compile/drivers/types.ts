import type { Network } from '../../model/index.js';
import type { StateBuilder } from '../state-builder.js';
import type { ContainerPlan, EndpointPlan, NetworkPlan, Topology } from '../topology.js';

/**
 * A network driver turns a network and its endpoints into kernel state. bridge, host and null are
 * built in; others (overlay, macvlan, plugins) implement the same interface. Drivers are pure.
 */
export interface NetworkDriver {
  readonly name: string;
  /** local: per-host addressing (sticky). global: the same addressing on every host (from manifests only). */
  readonly scope: 'local' | 'global';
  /** Pools for networks that declare no subnet; undefined means a subnet is required. */
  readonly defaultPools?: { base: string; size: number }[];
  /** Containers on this driver get a namespace with an interface and addresses. */
  readonly hasEndpoints: boolean;
  /**
   * The network gives its containers a gateway (a way out). false for overlay: a container whose
   * networks give it none is attached to docker_gwbridge too. Default true.
   */
  readonly providesGateway?: boolean;
  /** The network's gateway address sits on a host interface (the bridge): the embedded DNS server listens there. */
  readonly gatewayOnHost?: boolean;
  /** Name of the host-side interface the network uses (e.g. the bridge), if any. */
  hostIfname?(network: Network): string | undefined;
  /**
   * The network's host interface is a bridge the host routes for: the firewall isolates it,
   * masquerades its outbound traffic and DNATs published ports to its endpoints.
   */
  readonly firewalled?: boolean;
  /**
   * The endpoints are made by a plugin process of this kind ("cni", or a Docker remote driver), not
   * by weft: compile gives them no addresses (the plugin's IPAM does) and no kernel objects, and
   * emits an attachment per endpoint instead (compile/attachments.ts) for the plugin phase.
   */
  readonly plugin?: string;
  /** Default MTU when the network sets none. */
  readonly defaultMtu: number;
  /** Host-level objects of the network (bridge, gateway address, ...). */
  networkState?(plan: NetworkPlan, topology: Topology, out: StateBuilder): void;
  /** Objects of one endpoint of a local container: its interface pair and addresses. */
  endpointState?(ep: EndpointPlan, ctr: ContainerPlan, plan: NetworkPlan, topology: Topology, out: StateBuilder): void;
}
