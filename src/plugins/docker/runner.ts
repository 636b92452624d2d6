import type { PluginAttachment } from '../../compile/index.js';
import type { IpOp, KernelProgram, NsRef, NsSnapshot } from '../../kernel/index.js';
import { emptyProgram } from '../../kernel/index.js';
import { parseCidr, formatIp } from '../../net/cidr.js';
import { isValidIfname, networkId } from '../../net/ids.js';
import { HOST } from '../../state/types.js';
import type { PluginRecord, PluginResult, PluginRunner, RunnerContext } from '../types.js';
import { PluginError } from '../types.js';
import type { DockerPlugin, DockerPlugins } from './client.js';
import { isPluginName } from './discovery.js';
import type { DockerNetworkRecord, DockerNetworkStore, IpamPoolRecord } from './network-store.js';
import type { EndpointInterface, IpamData, JoinAnswer } from './protocol.js';
import { GENERIC_OPTIONS } from './protocol.js';

/**
 * The Docker remote driver as a plugin-phase runner (src/plugins/types.ts): one per driver name.
 * add = (CreateNetwork once per network) CreateEndpoint, Join, then weft moves the interface the
 * plugin made (SrcName) into the container as DstPrefix+index and gives it its addresses, gateway
 * and static routes, as libnetwork does; delete = Leave, the interface given back to the host
 * namespace under its old name, DeleteEndpoint; networkGone = DeleteNetwork. Kernel work goes
 * through the kernel layer (typed operations); the plugin is reached through client.ts.
 */

/** What weft sends for one endpoint; recorded, and hashed to notice a changed declaration. */
export interface DockerRequest {
  plugin: string;
  /** An IPAM plugin gives the addresses; absent: weft's IPAM did (pools and endpoint below). */
  ipamPlugin?: string;
  options: Record<string, string>;
  enableIPv6: boolean;
  /** weft's pools (subnet CIDR, gateway address) when weft does the IPAM. */
  pools: { subnet: string; gateway?: string }[];
  endpoint: EndpointInterface;
}

/** Routes a plugin asked for carry "static": weft's route provider (protocol 250) leaves them alone. */
const PLUGIN_ROUTE_PROTO = 4;

export interface DockerRunnerDeps {
  plugins: DockerPlugins;
  networks: DockerNetworkStore;
}

export class DockerRunner implements PluginRunner {
  constructor(readonly kind: string, private readonly deps: DockerRunnerDeps) {}

  request(att: PluginAttachment): Promise<DockerRequest> {
    if (att.spec.kind !== 'remote') return Promise.reject(new PluginError(`network "${att.network}": not a Docker remote driver network`));
    if (!isPluginName(att.kind)) return Promise.reject(new PluginError(`driver "${att.kind}" is not a plugin name`));
    const s = att.spec;
    const ipam = s.ipamDriver !== 'default' ? s.ipamDriver : undefined;
    if (ipam !== undefined && !isPluginName(ipam)) return Promise.reject(new PluginError(`IPAM driver "${ipam}" is not a plugin name`));
    return Promise.resolve({
      plugin: att.kind,
      ...(ipam !== undefined ? { ipamPlugin: ipam } : {}),
      options: s.options,
      enableIPv6: s.enableIPv6,
      pools: ipam !== undefined ? s.pools.map((p) => ({ subnet: p.subnet })) : s.pools,
      endpoint: ipam !== undefined ? {} : s.endpoint,
    });
  }

  async add(att: PluginAttachment, request: unknown, ctx: RunnerContext): Promise<PluginResult> {
    const req = request as DockerRequest;
    const plugin = this.deps.plugins.get(req.plugin);
    const net = await this.ensureNetwork(att.network, req, plugin);
    const nid = net.networkId;
    const given: EndpointInterface = { ...req.endpoint };
    const leased: { poolId: string; address: string }[] = [];
    try {
      if (net.ipamPlugin !== undefined) {
        const ipam = this.deps.plugins.get(net.ipamPlugin);
        for (const pool of net.pools) {
          const address = await ipam.requestAddress({ PoolID: pool.poolId, Address: '', Options: {} });
          leased.push({ poolId: pool.poolId, address: address.split('/')[0]! });
          if (pool.v6) given.AddressIPv6 = address;
          else given.Address = address;
        }
      }
      const chosen = await plugin.createEndpoint({ NetworkID: nid, EndpointID: att.endpointId, Options: {}, Interface: given });
      const iface = { ...given, ...chosen };
      try {
        const join = await plugin.join({ NetworkID: nid, EndpointID: att.endpointId, SandboxKey: att.netnsPath, Options: {} });
        try {
          return await this.plumb(att, iface, join, ctx);
        } catch (e) {
          await plugin.leave(nid, att.endpointId).catch(() => undefined);
          throw e;
        }
      } catch (e) {
        await plugin.deleteEndpoint(nid, att.endpointId).catch(() => undefined);
        throw e;
      }
    } catch (e) {
      for (const l of leased) await this.deps.plugins.get(net.ipamPlugin!).releaseAddress(l.poolId, l.address).catch(() => undefined);
      throw e;
    }
  }

  async delete(rec: PluginRecord, ctx: RunnerContext): Promise<void> {
    const plugin = this.deps.plugins.get(rec.kind);
    const nid = networkId(rec.network);
    await plugin.leave(nid, rec.endpointId);
    // As libnetwork does on Leave: the interface goes back to the host namespace under its old name
    // (the plugin deletes it there). A namespace already gone took its end of the pair with it.
    const src = rec.result.interfaces?.find((i) => i.sandbox === undefined)?.name;
    const inside = rec.result.interfaces?.find((i) => i.sandbox !== undefined)?.name ?? rec.ifname;
    const ns = await readNs(ctx, { key: rec.nsKey, path: rec.netnsPath });
    if (src !== undefined && ns?.links.some((l) => l.name === inside)) {
      const program = emptyProgram(hostRef(ctx.hostNetns));
      program.containers.push(work({ key: rec.nsKey, path: rec.netnsPath }, [{ op: 'link-move', name: inside, netns: hostTarget(ctx.hostNetns), newName: src, what: `giving interface ${inside} of container "${rec.container}" back to plugin "${rec.kind}"` }]));
      await ctx.kernel.run(program);
    }
    await plugin.deleteEndpoint(nid, rec.endpointId);
    const net = await this.deps.networks.get(rec.network);
    if (net?.ipamPlugin !== undefined) {
      const ipam = this.deps.plugins.get(net.ipamPlugin);
      for (const ip of rec.result.ips ?? []) {
        const c = parseCidr(ip.address);
        const pool = c && net.pools.find((p) => p.v6 === (c.family === 6));
        if (c && pool) await ipam.releaseAddress(pool.poolId, formatIp(c.family, c.address));
      }
    }
  }

  async networkGone(name: string): Promise<void> {
    const net = await this.deps.networks.get(name);
    if (!net) return;
    await this.deps.plugins.get(net.plugin).deleteNetwork(net.networkId);
    if (net.ipamPlugin !== undefined) {
      const ipam = this.deps.plugins.get(net.ipamPlugin);
      for (const p of net.pools) await ipam.releasePool(p.poolId);
    }
    await this.deps.networks.remove(name);
  }

  /** CreateNetwork the first time a network is used (recorded), with its pools. */
  private async ensureNetwork(network: string, req: DockerRequest, plugin: DockerPlugin): Promise<DockerNetworkRecord> {
    const known = await this.deps.networks.get(network);
    if (known && known.plugin === req.plugin) return known;
    await plugin.getCapabilities();
    const nid = networkId(network);
    const pools = req.ipamPlugin !== undefined ? await this.requestPools(req) : weftPools(req);
    try {
      const v4: IpamData[] = [];
      const v6: IpamData[] = [];
      for (const p of pools) (p.v6 ? v6 : v4).push({ AddressSpace: '', Pool: p.pool, ...(p.gateway ? { Gateway: p.gateway } : {}) });
      const create = {
        NetworkID: nid,
        Options: { [GENERIC_OPTIONS]: req.options, 'com.docker.network.enable_ipv6': req.enableIPv6 },
        IPv4Data: v4,
        IPv6Data: v6,
      };
      await plugin.createNetwork(create);
      const rec: DockerNetworkRecord = { network, plugin: req.plugin, networkId: nid, ...(req.ipamPlugin !== undefined ? { ipamPlugin: req.ipamPlugin } : {}), pools, request: create, createdAt: new Date().toISOString() };
      await this.deps.networks.write(rec);
      return rec;
    } catch (e) {
      if (req.ipamPlugin !== undefined) for (const p of pools) await this.deps.plugins.get(req.ipamPlugin).releasePool(p.poolId).catch(() => undefined);
      throw e;
    }
  }

  /** Pools (and gateways) from the network's IPAM plugin: one IPv4 pool, and one IPv6 pool when enabled. */
  private async requestPools(req: DockerRequest): Promise<IpamPoolRecord[]> {
    const ipam = this.deps.plugins.get(req.ipamPlugin!);
    const spaces = await ipam.getDefaultAddressSpaces();
    const out: IpamPoolRecord[] = [];
    try {
      for (const v6 of req.enableIPv6 ? [false, true] : [false]) {
        const declared = req.pools.find((p) => parseCidr(p.subnet)?.family === (v6 ? 6 : 4));
        const pool = await ipam.requestPool({ AddressSpace: spaces.LocalDefaultAddressSpace, Pool: declared?.subnet ?? '', SubPool: '', Options: {}, V6: v6 });
        out.push({ poolId: pool.PoolID, pool: pool.Pool, v6 });
        const gw = await ipam.requestAddress({ PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
        out[out.length - 1]!.gateway = gw;
      }
      return out;
    } catch (e) {
      for (const p of out) await ipam.releasePool(p.poolId).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Moves the plugin's interface into the container as DstPrefix + the endpoint's index, sets its
   * MAC, addresses, gateway (when the container has no default route yet) and static routes.
   */
  private async plumb(att: PluginAttachment, iface: EndpointInterface, join: JoinAnswer, ctx: RunnerContext): Promise<PluginResult> {
    const index = /(\d+)$/.exec(att.ifname)?.[1] ?? '0';
    const ifname = `${join.InterfaceName.DstPrefix}${index}`;
    if (!isValidIfname(ifname)) throw new PluginError(`plugin "${att.kind}": Join: interface name ${ifname} is not valid`);
    const nsRef: NsRef = { key: att.nsKey, path: att.netnsPath };
    const ns = await readNs(ctx, nsRef);
    if (!ns) throw new PluginError(`container "${att.container}": its namespace ${att.netnsPath} is not there`);
    if (ns.links.some((l) => l.name === ifname)) throw new PluginError(`plugin "${att.kind}": Join: the container already has an interface ${ifname}`);
    const what = `interface ${ifname} of container "${att.container}" on network "${att.network}"`;
    const ops: IpOp[] = [];
    if (iface.MacAddress) ops.push({ op: 'link-set', name: ifname, mac: iface.MacAddress, what });
    ops.push({ op: 'link-set', name: ifname, up: true, what });
    const ips: NonNullable<PluginResult['ips']> = [];
    const routes: NonNullable<PluginResult['routes']> = [];
    for (const [cidr, gw] of [[iface.Address, join.Gateway], [iface.AddressIPv6, join.GatewayIPv6]] as const) {
      if (!cidr) continue;
      ops.push({ op: 'addr-add', dev: ifname, cidr, what: `${what}: address ${cidr}` });
      ips.push({ address: cidr, ...(gw ? { gateway: gw } : {}), interface: 0 });
    }
    for (const r of join.StaticRoutes) {
      const family = parseCidr(r.Destination)!.family;
      ops.push({ op: 'route-replace', family, dst: r.Destination, ...(r.NextHop ? { via: r.NextHop } : {}), dev: ifname, proto: PLUGIN_ROUTE_PROTO, what: `${what}: route ${r.Destination}` });
      routes.push({ dst: r.Destination, ...(r.NextHop ? { gw: r.NextHop } : {}) });
    }
    for (const [family, gw] of [[4, join.Gateway], [6, join.GatewayIPv6]] as const) {
      if (!gw || ns.routes.some((r) => r.family === family && r.table === 'main' && r.dst === 'default')) continue;
      ops.push({ op: 'route-replace', family, dst: 'default', via: gw, dev: ifname, proto: PLUGIN_ROUTE_PROTO, what: `${what}: default route via ${gw}` });
      routes.push({ dst: family === 4 ? '0.0.0.0/0' : '::/0', gw });
    }
    const program: KernelProgram = emptyProgram(hostRef(ctx.hostNetns));
    program.host.ip.push({ op: 'link-move', name: join.InterfaceName.SrcName, netns: nsTarget(att.netnsPath), newName: ifname, what: `moving ${join.InterfaceName.SrcName} of plugin "${att.kind}" into container "${att.container}" as ${ifname}` });
    program.containers.push(work(nsRef, ops));
    try {
      await ctx.kernel.run(program);
    } catch (e) {
      // Half-moved: give the interface back so the plugin's DeleteEndpoint finds it.
      const back = emptyProgram(hostRef(ctx.hostNetns));
      back.containers.push(work(nsRef, [{ op: 'link-move', name: ifname, netns: hostTarget(ctx.hostNetns), newName: join.InterfaceName.SrcName, what }]));
      await ctx.kernel.run(back).catch(() => undefined);
      throw e;
    }
    return {
      interfaces: [{ name: ifname, ...(iface.MacAddress ? { mac: iface.MacAddress } : {}), sandbox: att.netnsPath }, { name: join.InterfaceName.SrcName }],
      ips,
      routes,
    };
  }
}

/** weft's IPAM: the network's pools with their gateways in CIDR form, as Docker sends them. */
function weftPools(req: DockerRequest): IpamPoolRecord[] {
  return req.pools.map((p) => {
    const c = parseCidr(p.subnet)!;
    return { poolId: '', pool: p.subnet, ...(p.gateway ? { gateway: `${p.gateway}/${c.prefix}` } : {}), v6: c.family === 6 };
  });
}

function hostRef(hostNetns: string): NsRef {
  return { key: HOST, path: hostNetns ? `/run/netns/${hostNetns}` : null };
}

/** The host namespace as `ip link set ... netns X` names it: the --host-netns name, or PID 1's. */
function hostTarget(hostNetns: string): string {
  return hostNetns || '1';
}

/** A container namespace path as `ip link set ... netns X` names it: a name or a PID. */
function nsTarget(netnsPath: string): string {
  return /^\/proc\/(\d+)\/ns\/net$/.exec(netnsPath)?.[1] ?? netnsPath.replace(/^\/run\/netns\//, '');
}

function work(ns: NsRef, ip: IpOp[]): KernelProgram['host'] {
  return { ns, ip, sysctls: [], nft: [] };
}

async function readNs(ctx: RunnerContext, ns: NsRef): Promise<NsSnapshot | undefined> {
  return (await ctx.kernel.readNamespaces([{ ns, sysctls: [] }])).get(ns.key) ?? undefined;
}

/**
 * The runners for plugin kinds: the fixed ones (cni), and a DockerRunner made on first use for any
 * other kind that is a plugin name, so records of a driver no longer declared can still be undone.
 */
export class PluginRunners implements ReadonlyMap<string, PluginRunner> {
  private readonly map: Map<string, PluginRunner>;
  constructor(fixed: Iterable<[string, PluginRunner]>, private readonly deps: DockerRunnerDeps) {
    this.map = new Map(fixed);
  }

  get(kind: string): PluginRunner | undefined {
    const known = this.map.get(kind);
    if (known || !isPluginName(kind)) return known;
    const made = new DockerRunner(kind, this.deps);
    this.map.set(kind, made);
    return made;
  }

  has(kind: string): boolean {
    return this.get(kind) !== undefined;
  }

  get size(): number {
    return this.map.size;
  }

  forEach(fn: (value: PluginRunner, key: string, map: ReadonlyMap<string, PluginRunner>) => void): void {
    this.map.forEach((v, k) => fn(v, k, this));
  }

  entries(): MapIterator<[string, PluginRunner]> {
    return this.map.entries();
  }

  keys(): MapIterator<string> {
    return this.map.keys();
  }

  values(): MapIterator<PluginRunner> {
    return this.map.values();
  }

  [Symbol.iterator](): MapIterator<[string, PluginRunner]> {
    return this.map[Symbol.iterator]();
  }
}
