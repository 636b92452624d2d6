import { describe, expect, it } from 'vitest';
import { builtinDrivers, compile, emptyAllocations } from '../../../src/compile/index.js';
import type { CompileInputs } from '../../../src/compile/index.js';
import { modelFromText } from '../../../src/model/index.js';
import { yaml } from '../../support/world.js';

const inputs = (over: Partial<CompileInputs> = {}): CompileInputs => ({ hostNetns: 'h', allocations: emptyAllocations(), hostResolvConf: '', hostRoutes: [], ...over });
const build = (text: string, over: Partial<CompileInputs> = {}) => compile(modelFromText([{ file: 'm.yaml', text }]), inputs(over), builtinDrivers);

const podnet = yaml.network('podnet', '{driver: cni, cni: {config: {cniVersion: 1.0.0, plugins: [{type: bridge}, {type: portmap, capabilities: {portMappings: true}}]}}}');

describe('compile: plugin networks', () => {
  it('gives plugin endpoints an attachment each, no weft addresses, no kernel objects, no weft default route', () => {
    const text = podnet + yaml.network('web') + yaml.container('c', '{networks: [web, podnet], ports: ["8080-8081:80-81/tcp", "127.0.0.1:5353:53/udp"]}');
    const { topology, desired, attachments } = build(text);
    const c = topology.containers.get('c')!;
    expect(c.endpoints.map((e) => `${e.ifname}:${e.network}:${e.ipv4?.address ?? '-'}`)).toEqual(['eth0:web:172.18.0.2', 'eth1:podnet:-']);
    expect(c.defaultRoute4?.network).toBe('web');
    expect(Object.values(desired.links).filter((l) => 'name' in l && l.name === 'eth1')).toEqual([]);
    expect(attachments).toEqual([
      expect.objectContaining({
        kind: 'cni',
        network: 'podnet',
        container: 'c',
        ifname: 'eth1',
        nsKey: 'h-c',
        netnsPath: '/run/netns/h-c',
        spec: { kind: 'cni', cni: { config: { cniVersion: '1.0.0', plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }] } } },
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
          { hostPort: 8081, containerPort: 81, protocol: 'tcp' },
          { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
        ],
        pos: { file: 'm.yaml', line: 3, col: 18 },
      }),
    ]);
    // The network takes no subnet from weft's pools.
    expect(topology.networks.get('podnet')?.pools).toEqual({ v4: [], v6: [] });
  });

  it('knows the addresses plugins gave (their records) for /etc/hosts and DNS', () => {
    const text = podnet + yaml.container('c', '{networks: [podnet]}');
    const { topology, desired } = build(text, { pluginAddresses: new Map([['c|podnet', ['10.88.0.7/24']]]) });
    expect(topology.containers.get('c')?.endpoints[0]?.ipv4).toMatchObject({ address: '10.88.0.7', prefix: 24 });
    expect(desired.files['/etc/netns/h-c/hosts']?.content).toMatch(/^10\.88\.0\.7\t/m);
  });

  it('makes no attachment for containers placed on another node', () => {
    const text = podnet + yaml.container('c', '{networks: [podnet], host: b}') + 'apiVersion: weft/v1\nkind: Host\nmetadata: {name: a}\nspec: {address: 198.18.0.1}\n---\napiVersion: weft/v1\nkind: Host\nmetadata: {name: b}\nspec: {address: 198.18.0.2}\n';
    expect(build(text, { node: 'a' }).attachments).toEqual([]);
    expect(build(text, { node: 'b' }).attachments.map((a) => a.container)).toEqual(['c']);
  });
});
