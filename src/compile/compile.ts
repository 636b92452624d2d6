import type { Problem } from '../errors.js';
import { InvalidManifestError } from '../errors.js';
import type { Container, Model, Network } from '../model/index.js';
import { GWBRIDGE, Opt, vlanParent } from '../model/index.js';
import { positionOf } from '../manifest/index.js';
import { contains, formatCidr, formatIp, parseCidr, parseIp } from '../net/cidr.js';
import type { Family } from '../net/cidr.js';
import { containerId, endpointId, macFromIpv4, macFromSeed, networkId, vethName } from '../net/ids.js';
import type { KernelState } from '../state/types.js';
import { aliases, etcNetnsDir, netnsName } from '../naming.js';
import { pluginAttachments } from './attachments.js';
import type { PluginAttachment } from './attachments.js';
import { dnsLocalnetState } from './dns.js';
import type { NetworkDriver } from './drivers/index.js';
import { weftAllocates } from './drivers/remote.js';
import { hostsFile, parseResolvConf, resolvConfFile } from './files.js';
import { firewallState, markPublishEndpoints } from './firewall.js';
import type { CompileInputs, PeerEndpoint } from './inputs.js';
import { endpointKey } from './inputs.js';
import { allocateAddresses, allocateSubnets } from './ipam.js';
import type { AddressRequest, NetworkPools, Pool } from './ipam.js';
import { StateBuilder } from './state-builder.js';
import type { ContainerPlan, EndpointPlan, IpAssignment, NetworkPlan, Topology } from './topology.js';

export interface CompileResult {
  topology: Topology;
  desired: KernelState;
  /** Endpoints on plugin networks, for the plugin phase (src/plugins). */
  attachments: PluginAttachment[];
}

// Naming conventions live in src/naming.ts (providers read them too); re-exported for compile's users.
export { etcNetnsDir, netnsName };

/**
 * Compiles the model into the topology and the desired kernel state. Pure: everything it needs
 * from the outside world comes in `inputs`. Throws InvalidManifestError for problems that only
 * show up here (unknown driver, exhausted pools).
 */
export function compile(model: Model, inputs: CompileInputs, drivers: ReadonlyMap<string, NetworkDriver>): CompileResult {
  const problems: Problem[] = [];
  const topology: Topology = { hostNetns: inputs.hostNetns, networks: new Map(), containers: new Map() };
  if (inputs.node !== undefined) topology.node = inputs.node;
  const nodeAddress = inputs.node !== undefined ? model.hosts.get(inputs.node)?.address : undefined;
  if (nodeAddress !== undefined) topology.nodeAddress = nodeAddress;

  planNetworks(model, inputs, drivers, topology, problems);
  planContainers(model, inputs, topology);
  planPeers(inputs, topology);
  planAddresses(model, inputs, topology, problems);
  dropShadowedPeers(topology);
  planGateways(topology);
  markPublishEndpoints(topology);
  if (problems.length > 0) throw new InvalidManifestError(problems);
  return { topology, desired: buildState(topology, inputs), attachments: pluginAttachments(topology) };
}

function planNetworks(model: Model, inputs: CompileInputs, drivers: ReadonlyMap<string, NetworkDriver>, topology: Topology, problems: Problem[]): void {
  // Predefined networks first (bridge keeps 172.17/16), then the rest by name: deterministic IPAM.
  const ordered = [...model.networks.values()].sort((a, b) => Number(b.predefined) - Number(a.predefined) || a.name.localeCompare(b.name));
  // docker_gwbridge appears when a local container needs it (and stays, like the default bridge,
  // while it exists unless pruning); last, so it shifts no other subnet.
  const gwNeeded = [...model.containers.values()].some((c) => isLocal(c, inputs) && needsGateway(c, model, drivers));
  if (!model.networks.has(GWBRIDGE) && (gwNeeded || inputs.keepNetworks?.has(GWBRIDGE))) {
    ordered.push(gwbridgeNetwork());
  }
  const withDrivers: { network: Network; driver: NetworkDriver }[] = [];
  for (const network of ordered) {
    const driver = drivers.get(network.driver);
    if (!driver) {
      problems.push({
        code: 'UNKNOWN_DRIVER',
        pos: network.src ? positionOf(network.src.doc, '/spec/driver') : { file: '<predefined>', line: 1, col: 1 },
        message: `network "${network.name}": driver "${network.driver}" is not built in and no plugin of that name was found`,
        hint: `use one of ${[...drivers.keys()].sort().join(', ')}, or install the plugin (see README, "Driver plugins")`,
      });
      continue;
    }
    withDrivers.push({ network, driver });
  }
  const pools = allocateAllSubnets(withDrivers, inputs, problems);
  for (const { network, driver } of withDrivers) {
    const parent = planParent(network, inputs, problems);
    const mtu = Number(network.options[Opt.mtu] ?? parent?.mtu ?? driver.defaultMtu);
    const plan: NetworkPlan = {
      network,
      driver,
      pools: pools.get(network.name) ?? { v4: [], v6: [] },
      mtu,
      // Declared networks exist like `docker network create`d ones; the default bridge appears when
      // used (and stays while it exists, unless pruning); global networks exist on a node while a
      // local container joins them.
      materialize: driver.hasEndpoints && driver.scope !== 'global' && (!network.predefined || (inputs.keepNetworks?.has(network.name) ?? false)),
    };
    const ifname = driver.hostIfname?.(network);
    if (ifname !== undefined) plan.ifname = ifname;
    if (parent) plan.parent = parent.plan;
    topology.networks.set(network.name, plan);
  }
}

/**
 * A network's parent interface (options.parent): it must exist on this host, unless it names an
 * 802.1q sub-interface ("eth0.50") of one that does, which weft then creates. Its MTU is the
 * network's default. Not checked before the host has been read (hostInterfaces undefined).
 */
function planParent(network: Network, inputs: CompileInputs, problems: Problem[]): { plan: NonNullable<NetworkPlan['parent']>; mtu?: number } | undefined {
  const name = network.options[Opt.parent];
  if (name === undefined) return undefined;
  const known = inputs.hostInterfaces;
  const mtuOf = (n: string) => known?.find((i) => i.name === n)?.mtu;
  const vlan = vlanParent(name);
  if (!known || mtuOf(name) !== undefined) {
    const mtu = mtuOf(name);
    return { plan: { name }, ...(mtu !== undefined ? { mtu } : {}) };
  }
  const baseMtu = vlan ? mtuOf(vlan.base) : undefined;
  if (vlan && baseMtu !== undefined) return { plan: { name, vlan }, mtu: baseMtu };
  const missing = vlan ? vlan.base : name;
  problems.push({
    code: 'PARENT_MISSING',
    pos: network.src ? positionOf(network.src.doc, `/spec/options/${Opt.parent}`) : { file: '<predefined>', line: 1, col: 1 },
    message: `network "${network.name}": parent interface "${missing}" does not exist on this host`,
    hint: `name an interface of this host (ip link show)${vlan ? '' : ', or "<interface>.<vlan id>" for a VLAN sub-interface weft creates'}`,
  });
  return { plan: { name } };
}

/**
 * Subnets for every network. Global networks (overlay) come first and depend on the manifests
 * alone, so every host computes the same; local ones then avoid them and the host's own routes.
 */
function allocateAllSubnets(withDrivers: { network: Network; driver: NetworkDriver }[], inputs: CompileInputs, problems: Problem[]): Map<string, NetworkPools> {
  const request = ({ network, driver }: { network: Network; driver: NetworkDriver }) => ({
    network,
    ...(driver.defaultPools ? { defaults: driver.defaultPools } : {}),
    sticky: driver.scope === 'local' ? (inputs.allocations.subnets.get(network.name) ?? []) : [],
  });
  const withEndpoints = withDrivers.filter(({ network, driver }) => driver.hasEndpoints && weftAllocates(driver, network));
  const global = withEndpoints.filter(({ driver }) => driver.scope === 'global').map(request);
  const local = withEndpoints.filter(({ driver }) => driver.scope !== 'global').map(request);
  const declaredLocal = local.flatMap((r) => r.network.pools.map((p) => formatCidr(p.subnet)));
  const first = allocateSubnets(global, declaredLocal);
  const globalSubnets = [...first.pools.values()].flatMap((p) => [...p.v4, ...p.v6].map((x) => formatCidr(x.subnet)));
  const second = allocateSubnets(local, [...inputs.hostRoutes, ...globalSubnets]);
  problems.push(...first.problems, ...second.problems);
  return new Map([...first.pools, ...second.pools]);
}

function isLocal(c: Container, inputs: CompileInputs): boolean {
  return c.host === undefined || inputs.node === undefined || c.host === inputs.node;
}

/**
 * Docker's rule (libnetwork's needDefaultGW): a container needs docker_gwbridge when it is on a
 * non-internal network that gives no gateway (overlay) and on none that gives one. Internal
 * networks count for neither: a container only on internal networks stays without a way out.
 */
function needsGateway(c: Container, model: Model, drivers: ReadonlyMap<string, NetworkDriver>): boolean {
  let need = false;
  for (const e of c.endpoints) {
    const n = model.networks.get(e.network);
    const d = n ? drivers.get(n.driver) : undefined;
    if (!n || !d?.hasEndpoints || n.internal) continue;
    if (d.providesGateway === false) need = true;
    else return false;
  }
  return need;
}

/** docker_gwbridge as Docker creates it on demand: a bridge without inter-container traffic, masqueraded. */
function gwbridgeNetwork(): Network {
  return {
    name: GWBRIDGE,
    id: networkId(GWBRIDGE),
    driver: 'bridge',
    internal: false,
    enableIPv6: false,
    attachable: false,
    ipamDriver: 'default',
    pools: [],
    options: {
      [Opt.bridgeName]: GWBRIDGE,
      [Opt.enableIcc]: 'false',
      [Opt.enableMasquerade]: 'true',
    },
    labels: {},
    // Like Docker's predefined networks: it exists only while used and has no embedded DNS.
    predefined: true,
    declared: false,
  };
}

function attachPath(spec: string): string {
  return spec.startsWith('/') ? spec : `/run/netns/${spec}`;
}

function planContainers(model: Model, inputs: CompileInputs, topology: Topology): void {
  for (const c of model.containers.values()) {
    const local = isLocal(c, inputs);
    const onHost = c.endpoints.some((e) => topology.networks.get(e.network)?.driver.name === 'host');
    const plan: ContainerPlan = { container: c, local, source: 'manifest', mode: onHost ? 'host' : 'netns', ownsNetns: false, endpoints: [] };
    const hostAddress = !local && c.host !== undefined ? model.hosts.get(c.host)?.address : undefined;
    if (hostAddress !== undefined) plan.hostAddress = hostAddress;
    if (!onHost) {
      plan.ns = netnsName(inputs.hostNetns, c.name);
      plan.nsPath = c.netns !== undefined ? attachPath(c.netns) : `/run/netns/${plan.ns}`;
      plan.ownsNetns = c.netns === undefined;
    }
    let index = 0;
    for (const e of c.endpoints) {
      const net = topology.networks.get(e.network);
      if (!net?.driver.hasEndpoints || onHost) continue;
      // Remote containers matter here only on global networks (overlay peers, cross-host DNS).
      if (!local && net.driver.scope !== 'global') continue;
      if (local && (net.network.predefined || net.driver.scope === 'global')) net.materialize = true;
      plan.endpoints.push(endpointPlan(inputs, c.name, e.network, `eth${index++}`, e.aliases, e.links));
    }
    const gw = topology.networks.get(GWBRIDGE);
    if (local && !onHost && gw && needsGatewayPlan(plan, topology)) {
      gw.materialize = true;
      plan.endpoints.push(endpointPlan(inputs, c.name, GWBRIDGE, `eth${index++}`, [], []));
    }
    topology.containers.set(c.name, plan);
  }
}

function endpointPlan(inputs: CompileInputs, container: string, network: string, ifname: string, aliases: string[], links: EndpointPlan['links']): EndpointPlan {
  return {
    container,
    network,
    endpointId: endpointId(container, network),
    ifname,
    hostIfname: vethName(inputs.hostNetns, container, network),
    mac: '',
    aliases,
    links,
  };
}

function needsGatewayPlan(ctr: ContainerPlan, topology: Topology): boolean {
  let need = false;
  for (const ep of ctr.endpoints) {
    const n = topology.networks.get(ep.network);
    if (!n || n.network.internal) continue;
    if (n.driver.providesGateway === false) need = true;
    else return false;
  }
  return need;
}

const storeSource: Container['src'] = { doc: { file: '<store>', index: 0, value: null, positions: new Map() }, pointer: '' };

/**
 * Endpoints other nodes published in the membership store. For a container the manifests know,
 * the store only says which address it got (so this node agrees with its owner); a container the
 * manifests do not know becomes a remote container on the networks it was published for.
 */
function planPeers(inputs: CompileInputs, topology: Topology): void {
  const byContainer = new Map<string, PeerEndpoint[]>();
  for (const p of inputs.peers ?? []) {
    if (p.node === inputs.node || topology.containers.has(p.container)) continue;
    const net = topology.networks.get(p.network);
    if (!net || net.driver.scope !== 'global' || !inStorePools(p, net)) continue;
    const list = byContainer.get(p.container) ?? [];
    // One node per container: a name published by two nodes keeps the first node's (by name).
    if (list.length > 0 && list[0]!.node !== p.node) {
      if (list[0]!.node < p.node) continue;
      list.length = 0;
    }
    list.push(p);
    byContainer.set(p.container, list);
  }
  for (const [name, eps] of [...byContainer].sort(([a], [b]) => a.localeCompare(b))) {
    const first = eps[0]!;
    const container: Container = {
      name,
      id: containerId(name),
      host: first.node,
      endpoints: eps.map((p) => ({
        network: p.network,
        aliases: p.aliases,
        links: [],
        // Published addresses are taken as static ones: no other endpoint may get them.
        ...(p.ipv4 ? { ipv4Address: p.ipv4.slice(0, p.ipv4.indexOf('/')) } : {}),
        ...(p.ipv6 ? { ipv6Address: p.ipv6.slice(0, p.ipv6.indexOf('/')) } : {}),
        macAddress: p.mac,
        src: storeSource,
      })),
      ports: [],
      dns: { servers: [], search: [], options: [] },
      extraHosts: [],
      labels: {},
      src: storeSource,
    };
    topology.containers.set(name, {
      container,
      local: false,
      source: 'store',
      hostAddress: first.nodeAddress,
      mode: 'netns',
      ownsNetns: false,
      endpoints: eps.map((p, i) => endpointPlan(inputs, name, p.network, `eth${i}`, p.aliases, [])),
    });
  }
}

function inStorePools(p: PeerEndpoint, net: NetworkPlan): boolean {
  for (const [text, pools] of [[p.ipv4, net.pools.v4], [p.ipv6, net.pools.v6]] as const) {
    if (text === undefined) continue;
    const a = parseCidr(text);
    if (!a || !pools.some((pool) => contains(pool.subnet, a.family, a.address))) return false;
  }
  return p.ipv4 !== undefined || p.ipv6 !== undefined;
}

/**
 * A store container holding an address a manifest container has (a static one: dynamic ones skip
 * published addresses) is dropped: the manifests win.
 */
function dropShadowedPeers(topology: Topology): void {
  const taken = new Set<string>();
  for (const c of topology.containers.values()) {
    if (c.source !== 'manifest') continue;
    for (const ep of c.endpoints) for (const a of [ep.ipv4, ep.ipv6]) if (a) taken.add(`${ep.network}|${a.address}`);
  }
  for (const [name, c] of topology.containers) {
    if (c.source !== 'store') continue;
    if (c.endpoints.some((ep) => [ep.ipv4, ep.ipv6].some((a) => a && taken.has(`${ep.network}|${a.address}`)))) topology.containers.delete(name);
  }
}

function planAddresses(model: Model, inputs: CompileInputs, topology: Topology, problems: Problem[]): void {
  for (const net of topology.networks.values()) {
    const eps = [...topology.containers.values()].flatMap((c) => c.endpoints.filter((e) => e.network === net.network.name).map((e) => ({ c, e })));
    if (eps.length === 0) continue;
    if (!weftAllocates(net.driver, net.network)) {
      pluginAddresses(inputs, eps);
      continue;
    }
    const families: [Family, Pool[]][] = [[4, net.pools.v4]];
    if (net.network.enableIPv6) families.push([6, net.pools.v6]);
    for (const [family, pools] of families) {
      const requests: AddressRequest[] = eps.map(({ c, e }) => {
        const spec = c.container.endpoints.find((s) => s.network === e.network);
        const text = family === 4 ? spec?.ipv4Address : spec?.ipv6Address;
        const stat = text !== undefined ? parseIp(text) : undefined;
        // Local networks keep what the kernel has; global ones what the owner published (--store).
        // A remote driver's endpoints keep what the plugin phase recorded they were given.
        const key = endpointKey(c.container.name, e.network);
        const held = net.driver.scope === 'local'
          ? [...(inputs.allocations.addresses.get(key) ?? []), ...(inputs.pluginAddresses?.get(key) ?? [])]
          : publishedAddresses(inputs, c.container.name, e.network);
        const values = (cidrs: readonly string[]) =>
          cidrs
            .map((cidr) => parseCidr(cidr))
            .filter((p) => p !== undefined && p.family === family)
            .map((p) => p!.address);
        const remembered = net.driver.scope === 'local' ? values(inputs.allocations.remembered?.get(c.container.name) ?? []) : [];
        return { key: c.container.name, sticky: values(held), ...(remembered.length > 0 ? { remembered } : {}), ...(stat ? { static: stat.value } : {}) };
      });
      // Global networks spread addresses by name: the same on every host, stable when others come and go.
      const { assigned, exhausted } = allocateAddresses(pools, requests, net.driver.scope === 'global' ? { spread: net.network.name } : {});
      for (const { c, e } of eps) {
        const got = assigned.get(c.container.name);
        if (!got) continue;
        const a: IpAssignment = {
          address: formatIp(family, got.value),
          prefix: got.pool.subnet.prefix,
          gateway: formatIp(family, got.pool.gateway),
        };
        if (family === 4) e.ipv4 = a;
        else e.ipv6 = a;
      }
      for (const name of exhausted) {
        const ctr = model.containers.get(name);
        if (!ctr) continue;
        const spec = ctr.endpoints.find((s) => s.network === net.network.name) ?? { src: ctr.src };
        problems.push({
          code: pools.length === 0 ? 'NO_SUBNET' : 'ADDRESSES_EXHAUSTED',
          pos: positionOf(spec.src.doc, spec.src.pointer, true),
          message: pools.length === 0
            ? `container "${name}": network "${net.network.name}" has no IPv${family} subnet`
            : `container "${name}": no free IPv${family} address left on network "${net.network.name}"`,
          hint: pools.length === 0 ? 'declare a subnet in the network\'s ipam.config' : 'use a larger subnet or ipRange, or remove containers',
        });
      }
    }
  }
  for (const ctr of topology.containers.values()) {
    for (const ep of ctr.endpoints) {
      const spec = ctr.container.endpoints.find((s) => s.network === ep.network);
      const v4 = ep.ipv4 ? parseIp(ep.ipv4.address) : undefined;
      ep.mac = spec?.macAddress?.toLowerCase() ?? (v4 ? macFromIpv4(v4.value) : macFromSeed(ep.endpointId));
    }
  }
}

/**
 * Plugin endpoints get their addresses from the plugin (its result, recorded by the plugin phase):
 * known here for DNS, /etc/hosts and inspect, never allocated or written by weft.
 */
function pluginAddresses(inputs: CompileInputs, eps: { c: ContainerPlan; e: EndpointPlan }[]): void {
  for (const { c, e } of eps) {
    for (const cidr of inputs.pluginAddresses?.get(endpointKey(c.container.name, e.network)) ?? []) {
      const p = parseCidr(cidr);
      if (!p) continue;
      const a: IpAssignment = { address: formatIp(p.family, p.address), prefix: p.prefix, gateway: '' };
      if (p.family === 4) e.ipv4 ??= a;
      else e.ipv6 ??= a;
    }
  }
}

/** The addresses published in the store for an endpoint (by the node that runs the container). */
function publishedAddresses(inputs: CompileInputs, container: string, network: string): string[] {
  const p = (inputs.peers ?? []).find((x) => x.container === container && x.network === network);
  return p ? [p.ipv4, p.ipv6].filter((a): a is string => a !== undefined) : [];
}

function planGateways(topology: Topology): void {
  for (const ctr of topology.containers.values()) {
    // Outbound access goes through the first non-internal network sorted by name (Docker's rule),
    // among those that give a gateway (not overlay: docker_gwbridge does it for them).
    const byName = [...ctr.endpoints].sort((a, b) => a.network.localeCompare(b.network));
    const routable = byName.filter((ep) => {
      const n = topology.networks.get(ep.network);
      // Plugins route their own endpoints (a CNI ipam's routes).
      return n?.network.internal === false && n.driver.providesGateway !== false && n.driver.plugin === undefined;
    });
    const r4 = routable.find((ep) => ep.ipv4);
    const r6 = routable.find((ep) => ep.ipv6);
    if (r4) ctr.defaultRoute4 = r4;
    if (r6) ctr.defaultRoute6 = r6;
  }
}

function buildState(topology: Topology, inputs: CompileInputs): KernelState {
  const out = new StateBuilder();
  const hostResolv = parseResolvConf(inputs.hostResolvConf);
  for (const net of topology.networks.values()) net.driver.networkState?.(net, topology, out);
  for (const ctr of topology.containers.values()) {
    if (!ctr.local || ctr.mode !== 'netns' || !ctr.ns) continue;
    const owner = { kind: 'container' as const, name: ctr.container.name };
    if (ctr.ownsNetns) {
      out.netns({ name: ctr.ns, owner });
      out.link({ kind: 'loopback', ns: ctr.ns, name: 'lo', up: true, alias: aliases.namespace(ctr.container.name, inputs.hostNetns), owner });
      const dir = etcNetnsDir(ctr.ns);
      out.file({ path: `${dir}/hosts`, content: hostsFile(ctr, topology), owner });
      out.file({ path: `${dir}/resolv.conf`, content: resolvConfFile(ctr, topology, hostResolv), owner });
    }
    for (const ep of ctr.endpoints) {
      const net = topology.networks.get(ep.network);
      if (net) net.driver.endpointState?.(ep, ctr, net, topology, out);
    }
    if (ctr.defaultRoute4?.ipv4) {
      out.route({ ns: ctr.ns, dst: 'default', family: 4, via: ctr.defaultRoute4.ipv4.gateway, dev: ctr.defaultRoute4.ifname, owner });
    }
    if (ctr.defaultRoute6?.ipv6) {
      out.route({ ns: ctr.ns, dst: 'default', family: 6, via: ctr.defaultRoute6.ipv6.gateway, dev: ctr.defaultRoute6.ifname, owner });
    }
    dnsLocalnetState(ctr, topology, out);
  }
  firewallState(topology, out);
  return out.state;
}

