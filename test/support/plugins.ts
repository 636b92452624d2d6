import type { PluginAttachment, PluginEndpoint } from '../../src/compile/index.js';
import type { NsSnapshot } from '../../src/kernel/index.js';
import type { PluginRecord, PluginResult, PluginRunner, RunnerContext } from '../../src/plugins/index.js';
import { PluginError, requestHash } from '../../src/plugins/index.js';

function endpoint(network: string, container: string): PluginEndpoint {
  const ns = `h1-${container}`;
  return { kind: 'cni', network, container, containerId: `id-${container}`, endpointId: `ep-${container}-${network}`, ifname: 'eth0', nsKey: ns, netnsPath: `/run/netns/${ns}` };
}

/** A record as the plugin phase writes it, for tests. */
export function record(network: string, container: string, extra: Partial<PluginRecord> = {}): PluginRecord {
  return {
    ...endpoint(network, container),
    request: { network },
    requestHash: requestHash({ network }),
    result: { interfaces: [{ name: 'eth0', sandbox: `/run/netns/h1-${container}` }], ips: [{ address: '10.88.0.2/24', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }] },
    createdAt: '2026-01-01T00:00:00.000Z',
    ...extra,
  };
}

/** An attachment for a container on a network, for tests. */
export function attachment(network: string, container: string): PluginAttachment {
  return {
    ...endpoint(network, container),
    portMappings: [],
    spec: { kind: 'cni', cni: { conflist: network } },
    pos: { file: 'm.yaml', line: 3, col: 15 },
  };
}

/** A namespace snapshot holding what `record` says the plugin made. */
export function madeNamespace(): NsSnapshot {
  return {
    links: [{ ifindex: 2, name: 'eth0', mtu: 1500, mac: '02:00:00:00:00:01', up: true }],
    addresses: [{ dev: 'eth0', family: 4, local: '10.88.0.2', prefixlen: 24, scope: 'global' }],
    routes: [{ family: 4, dst: 'default', gateway: '10.88.0.1', dev: 'eth0', protocol: 'boot', table: 'main', type: 'unicast' }],
    sysctls: {},
    nft: {},
  };
}

/**
 * A plugin kind in memory: the request is {network}; networks listed in `failing` fail ADD (and
 * CHECK fails for those in `badCheck`). Calls are logged as "ADD net/ctr".
 */
export class FakeRunner implements PluginRunner {
  readonly kind = 'cni';
  readonly calls: string[] = [];
  readonly failing = new Set<string>();
  readonly badCheck = new Set<string>();

  request(att: PluginAttachment): Promise<unknown> {
    return Promise.resolve({ network: att.network });
  }
  add(att: PluginAttachment): Promise<PluginResult> {
    this.calls.push(`ADD ${att.network}/${att.container}`);
    if (this.failing.has(att.network)) return Promise.reject(new PluginError(`fake ADD failed for ${att.network}`));
    return Promise.resolve(record(att.network, att.container).result);
  }
  delete(rec: PluginRecord): Promise<void> {
    this.calls.push(`DEL ${rec.network}/${rec.container}`);
    return Promise.resolve();
  }
  check(rec: PluginRecord): Promise<string | undefined> {
    this.calls.push(`CHECK ${rec.network}/${rec.container}`);
    return Promise.resolve(this.badCheck.has(rec.network) ? 'fake CHECK failed' : undefined);
  }
  networkGone(network: string, _requests: unknown[], _ctx: RunnerContext): Promise<void> {
    this.calls.push(`GONE ${network}`);
    return Promise.resolve();
  }
}
