import type { SourceDocument } from '../manifest/index.js';
import type { ParsedCidr } from '../net/cidr.js';
import type { ParsedPort } from './ports.js';

/** Where a model object came from, for error positions: a document and a JSON pointer in it. */
export interface SourceRef {
  doc: SourceDocument;
  pointer: string;
}

export interface IpamPool {
  subnet: ParsedCidr;
  gateway?: { text: string; value: bigint };
  ipRange?: ParsedCidr;
  auxAddresses: Record<string, string>;
  src: SourceRef;
}

export type DriverName = string;

export interface Network {
  name: string;
  id: string;
  /** bridge | overlay | macvlan | host | null (Docker's name for "none") | a plugin driver name */
  driver: DriverName;
  internal: boolean;
  enableIPv6: boolean;
  attachable: boolean;
  ipamDriver: string;
  /** Pools given in the manifest; empty means "allocate from the default pools". */
  pools: IpamPool[];
  /** Docker option names, values as strings. */
  options: Record<string, string>;
  labels: Record<string, string>;
  /** driver: cni: the CNI network configuration (checked by the rule cniNetworks). */
  cni?: CniSpec;
  /** One of Docker's predefined networks (bridge, host, none). */
  predefined: boolean;
  /** Declared in a manifest (a predefined network may be declared to customise it). */
  declared: boolean;
  src?: SourceRef;
}

/** A CNI network configuration list: given inline, or named (a file in /etc/cni/net.d, read when plugins run). */
export interface CniSpec {
  config?: Record<string, unknown>;
  conflist?: string;
  src: SourceRef;
}

export interface LegacyLink {
  container: string;
  alias: string;
}

export interface Endpoint {
  network: string;
  ipv4Address?: string;
  ipv6Address?: string;
  aliases: string[];
  links: LegacyLink[];
  macAddress?: string;
  src: SourceRef;
}

export type Protocol = 'tcp' | 'udp' | 'sctp';

/** A published port; hostIp undefined means the network's default (host_binding_ipv4). */
export interface PortMapping extends ParsedPort {
  text: string;
  src: SourceRef;
}

export interface Container {
  name: string;
  id: string;
  /** The Host that runs it; undefined means the local node. */
  host?: string;
  /** An existing namespace to attach (a path such as /proc/1234/ns/net), instead of creating one. */
  netns?: string;
  hostname?: string;
  /** In manifest order; eth0 is the first. */
  endpoints: Endpoint[];
  ports: PortMapping[];
  dns: { servers: string[]; search: string[]; options: string[] };
  extraHosts: string[];
  labels: Record<string, string>;
  src: SourceRef;
}

export interface Host {
  name: string;
  address: string;
  /** Overlay networks its store endpoints may be on; undefined: every overlay network. */
  networks?: string[];
  src: SourceRef;
}

/** The validated model of a set of manifests, with Docker's predefined networks added. */
export interface Model {
  networks: Map<string, Network>;
  containers: Map<string, Container>;
  hosts: Map<string, Host>;
}

export const PREDEFINED = ['bridge', 'host', 'none'] as const;

/** Docker's option names (the ones weft understands). */
export const Opt = {
  bridgeName: 'com.docker.network.bridge.name',
  enableIcc: 'com.docker.network.bridge.enable_icc',
  enableMasquerade: 'com.docker.network.bridge.enable_ip_masquerade',
  hostBindingIpv4: 'com.docker.network.bridge.host_binding_ipv4',
  gatewayModeIpv4: 'com.docker.network.bridge.gateway_mode_ipv4',
  gatewayModeIpv6: 'com.docker.network.bridge.gateway_mode_ipv6',
  defaultBridge: 'com.docker.network.bridge.default_bridge',
  mtu: 'com.docker.network.driver.mtu',
  vxlanIdList: 'com.docker.network.driver.overlay.vxlanid_list',
  parent: 'parent',
  macvlanMode: 'macvlan_mode',
} as const;
