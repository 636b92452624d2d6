import type { PluginAddress, PluginDirs } from './discovery.js';
import { findPlugin } from './discovery.js';
import { DockerPluginError } from './plugin-error.js';
import type {
  AddressSpaces,
  Capabilities,
  CreateEndpointRequest,
  CreateNetworkRequest,
  EndpointInterface,
  JoinAnswer,
  JoinRequest,
  PoolAnswer,
  RequestAddressRequest,
  RequestPoolRequest,
} from './protocol.js';
import * as P from './protocol.js';
import type { TransportOptions } from './transport.js';
import { DEFAULT_TRANSPORT, errText, postJson } from './transport.js';

/** The plugin interfaces weft uses (Plugin.Activate lists them under "Implements"). */
export type PluginKind = 'NetworkDriver' | 'IpamDriver';

export interface DockerPluginOptions extends Partial<TransportOptions> {
  dirs: PluginDirs;
}

/**
 * One Docker plugin, called by name. Activates it on first use (finds it as Docker does, then
 * POST /Plugin.Activate), and again after a call found it gone or silent, so a plugin that
 * restarted is activated again. Every answer is checked (protocol.ts); a plugin's failure,
 * absence, silence or garbage is a DockerPluginError naming the plugin and the call. Talks to the
 * plugin only (HTTP over its unix socket or TCP address), never to the kernel.
 */
export class DockerPlugin {
  private readonly transport: TransportOptions;
  private active: { addr: PluginAddress; implements: readonly string[] } | undefined;
  /** How many times Plugin.Activate succeeded (for logs and tests). */
  activations = 0;

  constructor(readonly name: string, private readonly opts: DockerPluginOptions) {
    this.transport = { timeoutMs: opts.timeoutMs ?? DEFAULT_TRANSPORT.timeoutMs, maxAnswerBytes: opts.maxAnswerBytes ?? DEFAULT_TRANSPORT.maxAnswerBytes };
  }

  /** Finds and activates the plugin (when not active) and checks it implements `kind`. */
  async activate(kind: PluginKind): Promise<readonly string[]> {
    if (!this.active) {
      const addr = await findPlugin(this.name, this.opts.dirs);
      const answer = await this.post(addr, 'Plugin.Activate', {});
      if (answer === undefined) throw new DockerPluginError(this.name, 'Plugin.Activate', 'not implemented (HTTP 404): not a Docker plugin');
      const impl = this.read('Plugin.Activate', answer, P.readActivate);
      this.active = { addr, implements: impl };
      this.activations += 1;
    }
    if (!this.active.implements.includes(kind)) {
      throw new DockerPluginError(this.name, 'Plugin.Activate', `implements ${JSON.stringify(this.active.implements)}, not ${kind}; use a ${kind} plugin`);
    }
    return this.active.implements;
  }

  // --- NetworkDriver ---

  async getCapabilities(): Promise<Capabilities> {
    const body = await this.call('NetworkDriver', 'NetworkDriver.GetCapabilities', {});
    // A plugin without the call is a local-scope driver (what Docker assumes for old plugins).
    return body === undefined ? { Scope: 'local' } : this.read('NetworkDriver.GetCapabilities', body, P.readCapabilities);
  }

  async createNetwork(req: CreateNetworkRequest): Promise<void> {
    await this.required('NetworkDriver', 'NetworkDriver.CreateNetwork', req, P.readEmpty);
  }

  async deleteNetwork(networkId: string): Promise<void> {
    await this.required('NetworkDriver', 'NetworkDriver.DeleteNetwork', { NetworkID: networkId }, P.readEmpty);
  }

  /** What the driver chose for the interface (undefined when it took what weft gave). */
  async createEndpoint(req: CreateEndpointRequest): Promise<EndpointInterface | undefined> {
    const chosen = await this.required('NetworkDriver', 'NetworkDriver.CreateEndpoint', req, P.readCreateEndpoint);
    // Docker's rule: a field weft gave must not come back different.
    for (const key of ['Address', 'AddressIPv6', 'MacAddress'] as const) {
      const given = req.Interface[key];
      const back = chosen?.[key];
      if (given !== undefined && back !== undefined && back !== given) {
        throw new DockerPluginError(this.name, 'NetworkDriver.CreateEndpoint', `answered ${key} ${back} where weft gave ${given}`);
      }
    }
    return chosen;
  }

  async deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    await this.required('NetworkDriver', 'NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: endpointId }, P.readEmpty);
  }

  async join(req: JoinRequest): Promise<JoinAnswer> {
    return this.required('NetworkDriver', 'NetworkDriver.Join', req, P.readJoin);
  }

  async leave(networkId: string, endpointId: string): Promise<void> {
    await this.required('NetworkDriver', 'NetworkDriver.Leave', { NetworkID: networkId, EndpointID: endpointId }, P.readEmpty);
  }

  /** The endpoint's operational data; undefined when the plugin does not implement the call. */
  async endpointOperInfo(networkId: string, endpointId: string): Promise<Record<string, unknown> | undefined> {
    const body = await this.call('NetworkDriver', 'NetworkDriver.EndpointOperInfo', { NetworkID: networkId, EndpointID: endpointId });
    return body === undefined ? undefined : this.read('NetworkDriver.EndpointOperInfo', body, P.readOperInfo);
  }

  /** Discovery notifications (1 = node discovery); false when the plugin does not implement them. */
  async discoverNew(type: number, data: Record<string, unknown>): Promise<boolean> {
    const body = await this.call('NetworkDriver', 'NetworkDriver.DiscoverNew', { DiscoveryType: type, DiscoveryData: data });
    if (body !== undefined) this.read('NetworkDriver.DiscoverNew', body, P.readEmpty);
    return body !== undefined;
  }

  async discoverDelete(type: number, data: Record<string, unknown>): Promise<boolean> {
    const body = await this.call('NetworkDriver', 'NetworkDriver.DiscoverDelete', { DiscoveryType: type, DiscoveryData: data });
    if (body !== undefined) this.read('NetworkDriver.DiscoverDelete', body, P.readEmpty);
    return body !== undefined;
  }

  // --- IpamDriver ---

  async getDefaultAddressSpaces(): Promise<AddressSpaces> {
    return this.required('IpamDriver', 'IpamDriver.GetDefaultAddressSpaces', {}, P.readAddressSpaces);
  }

  async requestPool(req: RequestPoolRequest): Promise<PoolAnswer> {
    return this.required('IpamDriver', 'IpamDriver.RequestPool', req, (b) => P.readPool(b, req.V6));
  }

  async releasePool(poolId: string): Promise<void> {
    await this.required('IpamDriver', 'IpamDriver.ReleasePool', { PoolID: poolId }, P.readEmpty);
  }

  /** An address of the pool ("ip/prefix"): `Address` when given, else one the plugin picks. */
  async requestAddress(req: RequestAddressRequest): Promise<string> {
    return this.required('IpamDriver', 'IpamDriver.RequestAddress', req, P.readAddress);
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    await this.required('IpamDriver', 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: address }, P.readEmpty);
  }

  // --- plumbing ---

  /** A call the protocol requires: a 404 is an error. */
  private async required<T>(kind: PluginKind, call: string, req: unknown, read: (body: unknown) => T): Promise<T> {
    const body = await this.call(kind, call, req);
    if (body === undefined) throw new DockerPluginError(this.name, call, 'not implemented (HTTP 404)');
    return this.read(call, body, read);
  }

  /** Activates when needed, then POSTs; undefined for a 404 (not implemented). */
  private async call(kind: PluginKind, call: string, req: unknown): Promise<unknown> {
    await this.activate(kind);
    return this.post(this.active!.addr, call, req);
  }

  private async post(addr: PluginAddress, call: string, req: unknown): Promise<unknown> {
    try {
      const answer = await postJson(this.name, addr, call, req, this.transport);
      if (answer.notImplemented) return undefined;
      const err = errText(answer.body);
      if (err !== undefined) throw new DockerPluginError(this.name, call, err);
      return answer.body;
    } catch (e) {
      // Gone or silent: find and activate it again next time (it may have restarted elsewhere).
      if (e instanceof DockerPluginError && !e.reachable) this.active = undefined;
      throw e;
    }
  }

  private read<T>(call: string, body: unknown, read: (body: unknown) => T): T {
    try {
      return read(body);
    } catch (e) {
      if (e instanceof P.AnswerError) throw new DockerPluginError(this.name, call, `bad answer: ${e.message}`);
      throw e;
    }
  }
}

/** One DockerPlugin per name for a process, so activation is shared by every network using it. */
export class DockerPlugins {
  private readonly byName = new Map<string, DockerPlugin>();
  constructor(private readonly opts: DockerPluginOptions) {}

  get(name: string): DockerPlugin {
    let p = this.byName.get(name);
    if (!p) {
      p = new DockerPlugin(name, this.opts);
      this.byName.set(name, p);
    }
    return p;
  }
}
