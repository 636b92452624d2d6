import type { Problem } from '../errors.js';
import type { ContainerManifest, HostManifest, Manifest, NetworkManifest, OptionValue } from '../manifest/index.js';
import { positionOf } from '../manifest/index.js';
import { parseCidr, parseIp } from '../net/cidr.js';
import { containerId, networkId } from '../net/ids.js';
import { parsePort } from './ports.js';
import type { Container, Endpoint, Host, IpamPool, Model, Network, PortMapping, SourceRef } from './types.js';
import { Opt } from './types.js';

/** Problem at a model source reference. */
export function problemAt(src: SourceRef, code: string, message: string, hint: string, key = false): Problem {
  return { code, pos: positionOf(src.doc, src.pointer, key), message, hint };
}

export function sub(src: SourceRef, ...segments: (string | number)[]): SourceRef {
  const tail = segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
  return { doc: src.doc, pointer: src.pointer + tail };
}

/** Docker's predefined networks, as `docker network inspect` shows them. */
export function predefinedNetworks(): Network[] {
  const bridgeSubnet = parseCidr('172.17.0.0/16');
  const gw = parseIp('172.17.0.1');
  if (!bridgeSubnet || !gw) throw new Error('unreachable');
  const base = { internal: false, enableIPv6: false, attachable: false, ipamDriver: 'default', labels: {}, predefined: true, declared: false };
  return [
    {
      ...base,
      name: 'bridge',
      id: networkId('bridge'),
      driver: 'bridge',
      pools: [{ subnet: bridgeSubnet, gateway: { text: '172.17.0.1', value: gw.value }, auxAddresses: {}, src: nowhere }],
      options: {
        [Opt.defaultBridge]: 'true',
        [Opt.enableIcc]: 'true',
        [Opt.enableMasquerade]: 'true',
        [Opt.hostBindingIpv4]: '0.0.0.0',
        [Opt.bridgeName]: 'docker0',
        [Opt.mtu]: '1500',
      },
    },
    { ...base, name: 'host', id: networkId('host'), driver: 'host', pools: [], options: {} },
    { ...base, name: 'none', id: networkId('none'), driver: 'null', pools: [], options: {} },
  ];
}

const nowhere: SourceRef = { doc: { file: '<predefined>', index: 0, value: null, positions: new Map() }, pointer: '' };

function optionStrings(o: Record<string, OptionValue> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(o ?? {}).map(([k, v]) => [k, String(v)]));
}

function docRef(m: Manifest): SourceRef {
  return { doc: m.source, pointer: '' };
}

function buildNetwork(m: NetworkManifest, predefined: Network | undefined, problems: Problem[]): Network {
  const src = docRef(m);
  const spec = m.spec ?? {};
  const driver = spec.driver === 'none' ? 'null' : (spec.driver ?? predefined?.driver ?? 'bridge');
  const pools: IpamPool[] = [];
  (spec.ipam?.config ?? []).forEach((p, i) => {
    const psrc = sub(src, 'spec', 'ipam', 'config', i);
    if (p.subnet === undefined) {
      if (p.gateway !== undefined || p.ipRange !== undefined) {
        problems.push(problemAt(psrc, 'SUBNET_REQUIRED', `network "${m.metadata.name}": an ipam pool with a gateway or ipRange needs a subnet`, 'add "subnet"'));
      }
      return;
    }
    const subnet = parseCidr(p.subnet);
    if (!subnet) {
      problems.push(problemAt(sub(psrc, 'subnet'), 'BAD_CIDR', `network "${m.metadata.name}": subnet "${p.subnet}" is not a CIDR`, 'write it as address/prefix, e.g. 172.21.0.0/16'));
      return;
    }
    const pool: IpamPool = { subnet, auxAddresses: p.auxAddresses ?? {}, src: psrc };
    if (p.gateway !== undefined) {
      // Docker accepts "172.21.0.1/16" as a gateway too (its inspect output prints it that way).
      const gwText = p.gateway.includes('/') ? p.gateway.slice(0, p.gateway.indexOf('/')) : p.gateway;
      const gw = parseIp(gwText);
      if (!gw) problems.push(problemAt(sub(psrc, 'gateway'), 'BAD_IP', `network "${m.metadata.name}": gateway "${p.gateway}" is not an IP address`, 'write an address inside the subnet, e.g. 172.21.0.1'));
      else pool.gateway = { text: gwText, value: gw.value };
    }
    if (p.ipRange !== undefined) {
      const r = parseCidr(p.ipRange);
      if (!r) problems.push(problemAt(sub(psrc, 'ipRange'), 'BAD_CIDR', `network "${m.metadata.name}": ipRange "${p.ipRange}" is not a CIDR`, 'write it as address/prefix inside the subnet, e.g. 172.21.5.0/24'));
      else pool.ipRange = r;
    }
    pools.push(pool);
  });
  const options = { ...(predefined?.options ?? {}), ...optionStrings(spec.options) };
  return {
    name: m.metadata.name,
    id: networkId(m.metadata.name),
    driver,
    internal: spec.internal ?? false,
    enableIPv6: spec.enableIPv6 ?? false,
    attachable: spec.attachable ?? false,
    ipamDriver: spec.ipam?.driver ?? 'default',
    pools: pools.length > 0 || !predefined ? pools : predefined.pools,
    options,
    labels: m.metadata.labels ?? {},
    ...(spec.cni ? { cni: { ...spec.cni, src: sub(src, 'spec', 'cni') } } : {}),
    predefined: predefined !== undefined,
    declared: true,
    src,
  };
}

function buildContainer(m: ContainerManifest, problems: Problem[]): Container {
  const src = docRef(m);
  const spec = m.spec ?? {};
  const endpoints: Endpoint[] = [];
  const nets = spec.networks;
  if (Array.isArray(nets)) {
    nets.forEach((n, i) => endpoints.push({ network: n, aliases: [], links: [], src: sub(src, 'spec', 'networks', i) }));
  } else if (nets) {
    for (const [name, ep] of Object.entries(nets)) {
      const esrc = sub(src, 'spec', 'networks', name);
      const e: Endpoint = { network: name, aliases: ep?.aliases ?? [], links: [], src: esrc };
      if (ep?.ipv4Address !== undefined) e.ipv4Address = ep.ipv4Address;
      if (ep?.ipv6Address !== undefined) e.ipv6Address = ep.ipv6Address;
      if (ep?.macAddress !== undefined) e.macAddress = ep.macAddress;
      (ep?.links ?? []).forEach((l, i) => {
        const [container, alias, extra] = l.split(':');
        if (!container || extra !== undefined || alias === '') {
          problems.push(problemAt(sub(esrc, 'links', i), 'BAD_LINK', `container "${m.metadata.name}": link "${l}" is not "name" or "name:alias"`, 'write it as container1:db'));
          return;
        }
        e.links.push({ container, alias: alias ?? container });
      });
      endpoints.push(e);
    }
  }
  // As in Docker: a container that names no network joins the default bridge.
  if (endpoints.length === 0) endpoints.push({ network: 'bridge', aliases: [], links: [], src: sub(src, 'spec') });
  const ports: PortMapping[] = [];
  (spec.ports ?? []).forEach((text, i) => {
    const psrc = sub(src, 'spec', 'ports', i);
    const p = parsePort(text);
    if ('error' in p) {
      problems.push(problemAt(psrc, 'BAD_PORT', `container "${m.metadata.name}": port "${text}": ${p.error}`, 'write [ip:]hostPort[-end]:containerPort[-end][/tcp|/udp], e.g. 8080:80/tcp'));
      return;
    }
    ports.push({ ...p, text, src: psrc });
  });
  const c: Container = {
    name: m.metadata.name,
    id: containerId(m.metadata.name),
    endpoints,
    ports,
    dns: { servers: spec.dns?.servers ?? [], search: spec.dns?.search ?? [], options: spec.dns?.options ?? [] },
    extraHosts: spec.extraHosts ?? [],
    labels: m.metadata.labels ?? {},
    src,
  };
  if (spec.host !== undefined) c.host = spec.host;
  if (spec.netns !== undefined) c.netns = spec.netns;
  if (spec.hostname !== undefined) c.hostname = spec.hostname;
  return c;
}

function buildHost(m: HostManifest): Host {
  return { name: m.metadata.name, address: m.spec.address, ...(m.spec.networks ? { networks: m.spec.networks } : {}), src: docRef(m) };
}

/**
 * Converts typed manifests into the model, adding Docker's predefined networks. Duplicate names
 * are reported here (the first declaration wins), every other cross-object rule in rules/. Pure.
 */
export function buildModel(manifests: readonly Manifest[]): { model: Model; problems: Problem[] } {
  const problems: Problem[] = [];
  const predefined = new Map(predefinedNetworks().map((n) => [n.name, n]));
  const model: Model = { networks: new Map(predefined), containers: new Map(), hosts: new Map() };
  const firstSeen = new Map<string, SourceRef>();
  for (const m of manifests) {
    const key = `${m.kind}/${m.metadata.name}`;
    const src = sub(docRef(m), 'metadata', 'name');
    const prev = firstSeen.get(key);
    if (prev) {
      const where = positionOf(prev.doc, prev.pointer);
      problems.push(problemAt(src, 'DUPLICATE_NAME', `${m.kind.toLowerCase()} "${m.metadata.name}" is declared twice (first at ${where.file}:${where.line}:${where.col})`, 'rename one of them or delete the duplicate'));
      continue;
    }
    firstSeen.set(key, src);
    if (m.kind === 'Network') model.networks.set(m.metadata.name, buildNetwork(m, predefined.get(m.metadata.name), problems));
    else if (m.kind === 'Container') model.containers.set(m.metadata.name, buildContainer(m, problems));
    else model.hosts.set(m.metadata.name, buildHost(m));
  }
  return { model, problems };
}
