import type { SourceDocument } from './load.js';

/** Manifest types: what users write, after structural validation, before defaults. */

export type OptionValue = string | number | boolean;

export interface Metadata {
  name: string;
  labels?: Record<string, string>;
}

export interface IpamPoolManifest {
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  auxAddresses?: Record<string, string>;
}

export interface NetworkSpecManifest {
  driver?: string;
  internal?: boolean;
  enableIPv6?: boolean;
  attachable?: boolean;
  ipam?: { driver?: string; config?: IpamPoolManifest[]; options?: Record<string, OptionValue> };
  options?: Record<string, OptionValue>;
  /** driver: cni: the network configuration list inline, or a .conflist file name in /etc/cni/net.d. */
  cni?: { config?: Record<string, unknown>; conflist?: string };
}

export interface EndpointManifest {
  ipv4Address?: string;
  ipv6Address?: string;
  aliases?: string[];
  links?: string[];
  macAddress?: string;
}

export interface ContainerSpecManifest {
  host?: string;
  netns?: string;
  hostname?: string;
  networks?: string[] | Record<string, EndpointManifest | null>;
  ports?: string[];
  dns?: { servers?: string[]; search?: string[]; options?: string[] };
  extraHosts?: string[];
}

export interface HostSpecManifest {
  address: string;
  /** The overlay networks this host may publish endpoints on through the store (default: all). */
  networks?: string[];
}

interface Doc<K extends string, S> {
  apiVersion: string;
  kind: K;
  metadata: Metadata;
  spec: S;
  /** Where the document came from, for error positions. */
  source: SourceDocument;
}

export type NetworkManifest = Doc<'Network', NetworkSpecManifest>;
export type ContainerManifest = Doc<'Container', ContainerSpecManifest>;
export type HostManifest = Doc<'Host', HostSpecManifest>;
export type Manifest = NetworkManifest | ContainerManifest | HostManifest;
