import { describe, expect, it } from 'vitest';
import { builtinDrivers, compile, emptyAllocations } from '../../../src/compile/index.js';
import type { CompileInputs } from '../../../src/compile/index.js';
import { modelFromText } from '../../../src/model/index.js';
import { yaml } from '../../support/world.js';

const inputs = (over: Partial<CompileInputs> = {}): CompileInputs => ({
  hostNetns: 'h',
  allocations: emptyAllocations(),
  hostResolvConf: 'nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n',
  hostRoutes: [],
  ...over,
});
const build = (text: string, over: Partial<CompileInputs> = {}) => compile(modelFromText([{ file: 'm', text }]), inputs(over), builtinDrivers);

describe('compile', () => {
  it('names bridges br-<12 hex of the network id> unless the option names them', () => {
    const { topology } = build(yaml.network('isolated_nw') + yaml.network('gw', '{options: {com.docker.network.bridge.name: docker_gwbridge}}'));
    expect(topology.networks.get('isolated_nw')?.ifname).toMatch(/^br-[0-9a-f]{12}$/);
    expect(topology.networks.get('gw')?.ifname).toBe('docker_gwbridge');
    expect(topology.networks.get('bridge')?.ifname).toBe('docker0');
  });

  it('numbers interfaces in manifest order and routes out through the first non-internal network by name', () => {
    const text = yaml.network('a_internal', '{internal: true}') + yaml.network('zeta') + yaml.network('beta') + yaml.container('c', '{networks: [zeta, a_internal, beta]}');
    const c = build(text).topology.containers.get('c')!;
    expect(c.endpoints.map((e) => `${e.ifname}:${e.network}`)).toEqual(['eth0:zeta', 'eth1:a_internal', 'eth2:beta']);
    expect(c.defaultRoute4?.network).toBe('beta');
  });

  it('gives an internal-only container no default route', () => {
    const c = build(yaml.network('i', '{internal: true}') + yaml.container('c', '{networks: [i]}')).topology.containers.get('c')!;
    expect(c.defaultRoute4).toBeUndefined();
  });

  it('derives MACs from IPv4 addresses as Docker does', () => {
    const c = build(yaml.container('c')).topology.containers.get('c')!;
    expect(c.endpoints[0]).toMatchObject({ ipv4: { address: '172.17.0.2', prefix: 16, gateway: '172.17.0.1' }, mac: '02:42:ac:11:00:02' });
  });

  it('materialises the default bridge only when a container uses it', () => {
    expect(build(yaml.network('n')).topology.networks.get('bridge')?.materialize).toBe(false);
    expect(build(yaml.container('c')).topology.networks.get('bridge')?.materialize).toBe(true);
  });

  it('keeps containers on host out of namespaces and gives none a namespace with loopback only', () => {
    const { topology, desired } = build(yaml.container('h', '{networks: [host]}') + yaml.container('n', '{networks: [none]}'));
    expect(topology.containers.get('h')?.mode).toBe('host');
    expect(desired.netns['h-h']).toBeUndefined();
    expect(desired.netns['h-n']).toBeDefined();
    expect(Object.keys(desired.links).filter((k) => k.startsWith('h-n/'))).toEqual(['h-n/lo']);
  });

  it('writes resolv.conf: embedded DNS on user-defined networks, host upstreams on the default bridge', () => {
    const { desired } = build(yaml.network('u') + yaml.container('a', '{networks: [u]}') + yaml.container('b') + yaml.container('c', '{dns: {servers: [9.9.9.9], search: [x.test], options: ["ndots:2"]}}'));
    expect(desired.files['/etc/netns/h-a/resolv.conf']?.content).toContain('nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0\n');
    // loopback resolvers of the host are useless inside a container
    expect(desired.files['/etc/netns/h-b/resolv.conf']?.content).toContain('nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n');
    expect(desired.files['/etc/netns/h-b/resolv.conf']?.content).not.toContain('127.0.0.53');
    expect(desired.files['/etc/netns/h-c/resolv.conf']?.content).toContain('nameserver 9.9.9.9\nsearch x.test\noptions ndots:2\n');
  });

  it('falls back to Google DNS like Docker when the host has only loopback resolvers', () => {
    const { desired } = build(yaml.container('b'), { hostResolvConf: 'nameserver 127.0.0.53\n' });
    expect(desired.files['/etc/netns/h-b/resolv.conf']?.content).toContain('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });

  it('writes legacy link entries into /etc/hosts', () => {
    const { desired } = build(yaml.container('db') + yaml.container('web', '{networks: {bridge: {links: ["db:database"]}}}'));
    const hosts = desired.files['/etc/netns/h-web/hosts']?.content ?? '';
    expect(hosts).toMatch(/^172\.17\.0\.2\tdatabase [0-9a-f]{12} db$/m);
    expect(hosts).toMatch(/^172\.17\.0\.3\t[0-9a-f]{12} web$/m);
  });

  it('assigns IPv6 addresses when the network enables it, and keeps eui64 address generation there', () => {
    const { topology, desired } = build(yaml.network('v6', '{enableIPv6: true, ipam: {config: [{subnet: 10.9.0.0/24}, {subnet: "fd00:9::/64"}]}}') + yaml.container('c', '{networks: [v6]}'));
    const ep = topology.containers.get('c')!.endpoints[0]!;
    expect(ep.ipv6).toEqual({ address: 'fd00:9::2', prefix: 64, gateway: 'fd00:9::1' });
    expect(desired.links['h-c/eth0']).toMatchObject({ addrgenmode: 'eui64' });
    expect(desired.routes['h-c/default6']).toMatchObject({ via: 'fd00:9::1', family: 6 });
  });

  it('only places containers of this node', () => {
    const text = 'apiVersion: weft/v1\nkind: Host\nmetadata: {name: a}\nspec: {address: 10.0.0.1}\n---\n' +
      'apiVersion: weft/v1\nkind: Host\nmetadata: {name: b}\nspec: {address: 10.0.0.2}\n---\n' +
      yaml.container('x', '{host: a}') + yaml.container('y', '{host: b}');
    const { desired } = build(text, { node: 'a' });
    expect(Object.keys(desired.netns)).toEqual(['h-x']);
  });
});
