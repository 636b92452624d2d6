import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinDrivers, compile, driversFor, emptyAllocations, endpointKey } from '../../../src/compile/index.js';
import type { CompileInputs } from '../../../src/compile/index.js';
import { modelFromText } from '../../../src/model/index.js';
import { DockerNetworkStore } from '../../../src/plugins/docker/index.js';
import { yaml } from '../../support/world.js';

const inputs = (over: Partial<CompileInputs> = {}): CompileInputs => ({ hostNetns: 'h', allocations: emptyAllocations(), hostResolvConf: '', hostRoutes: [], ...over });
const build = (text: string, over: Partial<CompileInputs> = {}) => {
  const model = modelFromText([{ file: 'm', text }]);
  return compile(model, inputs(over), driversFor(builtinDrivers, [...model.networks.values()].map((n) => n.driver)));
};

describe('Docker remote driver networks in compile', () => {
  it('get weft\'s IPAM, no kernel objects of their own, and an attachment per endpoint carrying the pools, address and MAC', () => {
    const r = build(yaml.network('fab', '{driver: weave, ipam: {config: [{subnet: 10.32.0.0/24}]}, options: {vendor.x: "1"}}') + yaml.container('c1', '{networks: [fab]}'));
    expect(r.attachments).toHaveLength(1);
    expect(r.attachments[0]).toMatchObject({
      kind: 'weave',
      network: 'fab',
      container: 'c1',
      ifname: 'eth0',
      spec: { kind: 'remote', options: { 'vendor.x': '1' }, ipamDriver: 'default', enableIPv6: false, pools: [{ subnet: '10.32.0.0/24', gateway: '10.32.0.1' }], endpoint: { Address: '10.32.0.2/24', MacAddress: '02:42:0a:20:00:02' } },
    });
    // The plugin makes the interface: weft declares no link, address or route for it.
    const ns = r.topology.containers.get('c1')!.ns!;
    expect(Object.values(r.desired.links).filter((l) => l.ns === ns && l.name !== 'lo')).toEqual([]);
    expect(Object.values(r.desired.addresses).filter((a) => a.ns === ns && a.dev === 'eth0')).toEqual([]);
  });

  it('keep the address the plugin phase recorded, even when another container would now take it', () => {
    const text = yaml.network('fab', '{driver: weave, ipam: {config: [{subnet: 10.32.0.0/24}]}}') + yaml.container('a', '{networks: [fab]}') + yaml.container('b', '{networks: [fab]}');
    const r = build(text, { pluginAddresses: new Map([[endpointKey('b', 'fab'), ['10.32.0.2/24']]]) });
    expect(r.attachments.map((a) => [a.container, a.spec.kind === 'remote' ? a.spec.endpoint.Address : ''])).toEqual([
      ['a', '10.32.0.3/24'],
      ['b', '10.32.0.2/24'],
    ]);
  });

  it('with an IPAM plugin: no weft pools or addresses; the declared subnet goes to the plugin', () => {
    const r = build(yaml.network('fab', '{driver: weave, ipam: {driver: weave-ipam, config: [{subnet: 10.40.0.0/16}]}}') + yaml.container('c1', '{networks: [fab]}'));
    expect(r.attachments[0]!.spec).toEqual({ kind: 'remote', options: {}, ipamDriver: 'weave-ipam', enableIPv6: false, pools: [{ subnet: '10.40.0.0/16' }], endpoint: {} });
    expect(r.topology.containers.get('c1')!.endpoints[0]!.ipv4).toBeUndefined();
  });
});

describe('the Docker network record store', () => {
  it('writes, reads back, lists and removes; skips files that are not records', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-dnet-'));
    try {
      const store = new DockerNetworkStore(dir, 'h1');
      const rec = { network: '..', plugin: 'weave', networkId: 'a'.repeat(64), pools: [{ poolId: '', pool: '10.32.0.0/24', gateway: '10.32.0.1/24', v6: false }], request: {}, createdAt: '2026-01-01T00:00:00.000Z' };
      await store.write(rec);
      expect(await store.get('..')).toEqual(rec);
      expect(await store.get('other')).toBeUndefined();
      await writeFile(path.join(store.dir, 'junk.json'), '{"network": 5');
      await writeFile(path.join(store.dir, `${'0'.repeat(32)}.json`), JSON.stringify({ ...rec, network: 'forged' }));
      expect((await store.list()).map((r) => r.network)).toEqual(['..']);
      await store.remove('..');
      expect(await store.list()).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
