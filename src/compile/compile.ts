import type { Problem } from '../errors.js';
import { InvalidManifestError } from '../errors.js';
import type { Model, Network } from '../model/index.js';
import { Opt } from '../model/index.js';
import { positionOf } from '../manifest/index.js';
import { formatIp, parseCidr, parseIp } from '../net/cidr.js';
import type { Family } from '../net/cidr.js';
import { endpointId, macFromIpv4, macFromSeed, vethName } from '../net/ids.js';
import type { KernelState } from '../state/types.js';
import { aliases } from './alias.js';
import type { NetworkDriver } from './drivers/index.js';
import { hostsFile, parseResolvConf, resolvConfFile } from './files.js';
import { firewallState, markPublishEndpoints } from './firewall.js';
import type { CompileInputs } from './inputs.js';
import { endpointKey } from './inputs.js';
import { allocateAddresses, allocateSubnets } from './ipam.js';
import type { AddressRequest, Pool } from './ipam.js';
import { StateBuilder } from './state-builder.js';
import type { ContainerPlan, IpAssignment, NetworkPlan, Topology } from './topology.js';

export interface CompileResult {
  topology: Topology;
  desired: KernelState;
}

/** The namespace weft creates for a container: its name, prefixed by the simulated host's name. */
export function netnsName(hostNetns: string, container: string): string {
  return hostNetns ? `${hostNetns}-${container}` : container;
}

/** Where /etc/netns files for a namespace live (ip netns exec bind-mounts them over /etc). */
export function etcNetnsDir(netns: string): string {
  return `/etc/netns/${netns}`;
}

/**
 * Compiles the model into the topology and the desired kernel state. Pure: everything it needs
 * from the outside world comes in `inputs`. Throws InvalidManifestError for problems that only
 * show up here (unknown driver, exhausted pools).
 */
export function compile(model: Model, inputs: CompileInputs, drivers: ReadonlyMap<string, NetworkDriver>): CompileResult {
  const problems: Problem[] = [];
  const topology: Topology = { hostNetns: inputs.hostNetns, networks: new Map(), containers: new Map() };
  if (inputs.node !== undefined) topology.node = inputs.node;

  planNetworks(model, inputs, drivers, topology, problems);
  planContainers(model, inputs, topology);
  planAddresses(model, inputs, topology, problems);
  markPublishEndpoints(topology);
  if (problems.length > 0) throw new InvalidManifestError(problems);
  return { topology, desired: buildState(topology, inputs) };
}

function planNetworks(model: Model, inputs: CompileInputs, drivers: ReadonlyMap<string, NetworkDriver>, topology: Topology, problems: Problem[]): void {
  // Predefined networks first (bridge keeps 172.17/16), then the rest by name: deterministic IPAM.
  const ordered = [...model.networks.values()].sort((a, b) => Number(b.predefined) - Number(a.predefined) || a.name.localeCompare(b.name));
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
  const requests = withDrivers
    .filter(({ driver }) => driver.hasEndpoints)
    .map(({ network, driver }) => ({
      network,
      ...(driver.defaultPools ? { defaults: driver.defaultPools } : {}),
      sticky: driver.scope === 'local' ? (inputs.allocations.subnets.get(network.name) ?? []) : [],
    }));
  const { pools, problems: poolProblems } = allocateSubnets(requests, inputs.hostRoutes);
  problems.push(...poolProblems);
  for (const { network, driver } of withDrivers) {
    const mtu = Number(network.options[Opt.mtu] ?? driver.defaultMtu);
    const plan: NetworkPlan = {
      network,
      driver,
      pools: pools.get(network.name) ?? { v4: [], v6: [] },
      mtu,
      // Declared networks exist like `docker network create`d ones; the default bridge appears when used.
      materialize: driver.hasEndpoints && (!network.predefined || (inputs.keepNetworks?.has(network.name) ?? false)),
    };
    const ifname = driver.hostIfname?.(network);
    if (ifname !== undefined) plan.ifname = ifname;
    topology.networks.set(network.name, plan);
  }
}

function attachPath(spec: string): string {
  return spec.startsWith('/') ? spec : `/run/netns/${spec}`;
}

function planContainers(model: Model, inputs: CompileInputs, topology: Topology): void {
  for (const c of model.containers.values()) {
    const local = c.host === undefined || inputs.node === undefined || c.host === inputs.node;
    const onHost = c.endpoints.some((e) => topology.networks.get(e.network)?.driver.name === 'host');
    const plan: ContainerPlan = { container: c, local, mode: onHost ? 'host' : 'netns', ownsNetns: false, endpoints: [] };
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
      if (local && net.network.predefined) net.materialize = true;
      plan.endpoints.push({
        container: c.name,
        network: e.network,
        endpointId: endpointId(c.name, e.network),
        ifname: `eth${index++}`,
        hostIfname: vethName(inputs.hostNetns, c.name, e.network),
        mac: '',
        aliases: e.aliases,
        links: e.links,
      });
    }
    topology.containers.set(c.name, plan);
  }
}

function planAddresses(model: Model, inputs: CompileInputs, topology: Topology, problems: Problem[]): void {
  for (const net of topology.networks.values()) {
    const eps = [...topology.containers.values()].flatMap((c) => c.endpoints.filter((e) => e.network === net.network.name).map((e) => ({ c, e })));
    if (eps.length === 0) continue;
    const families: [Family, Pool[]][] = [[4, net.pools.v4]];
    if (net.network.enableIPv6) families.push([6, net.pools.v6]);
    for (const [family, pools] of families) {
      const requests: AddressRequest[] = eps.map(({ c, e }) => {
        const spec = c.container.endpoints.find((s) => s.network === e.network);
        const text = family === 4 ? spec?.ipv4Address : spec?.ipv6Address;
        const stat = text !== undefined ? parseIp(text) : undefined;
        const sticky = net.driver.scope === 'local'
          ? (inputs.allocations.addresses.get(endpointKey(c.container.name, e.network)) ?? [])
              .map((cidr) => parseCidr(cidr))
              .filter((p) => p !== undefined && p.family === family)
              .map((p) => p!.address)
          : [];
        return { key: c.container.name, sticky, ...(stat ? { static: stat.value } : {}) };
      });
      const { assigned, exhausted } = allocateAddresses(pools, requests);
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
        const spec = model.containers.get(name)?.endpoints.find((s) => s.network === net.network.name);
        if (!spec) continue;
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
    // Outbound access goes through the first non-internal network sorted by name (Docker's rule).
    const byName = [...ctr.endpoints].sort((a, b) => a.network.localeCompare(b.network));
    const routable = byName.filter((ep) => topology.networks.get(ep.network)?.network.internal === false);
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
  }
  firewallState(topology, out);
  return out.state;
}

