import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PeerEndpoint } from '../../../src/compile/index.js';
import { UsageError, WeftError } from '../../../src/errors.js';
import type { ReconcileResult } from '../../../src/reconcile/index.js';
import { EndpointCacheFile, localEndpoints, parseEndpoint, parseStoreUrl, sameEndpoints, storeChange } from '../../../src/store/index.js';
import { FakeWorld, yaml } from '../../support/world.js';

const hostDoc = (name: string, address: string) => `apiVersion: weft/v1\nkind: Host\nmetadata: {name: ${name}}\nspec: {address: ${address}}\n---\n`;
const shared =
  hostDoc('node-1', '192.168.77.1') + hostDoc('node-2', '192.168.77.2') + hostDoc('node-3', '192.168.77.3') +
  yaml.network('ovl', '{driver: overlay, ipam: {config: [{subnet: 10.0.9.0/24}]}}') +
  yaml.container('web1', '{host: node-1, networks: [ovl]}') +
  yaml.container('web2', '{host: node-2, networks: [ovl]}') +
  // node-3 runs a container on ovl: the manifests put it on the network, so it may publish there.
  yaml.container('web3', '{host: node-3, networks: [ovl]}');

const guest: PeerEndpoint = { node: 'node-3', nodeAddress: '192.168.77.3', container: 'guest', network: 'ovl', ipv4: '10.0.9.9/24', mac: '02:42:0a:00:09:09', aliases: ['visitor'] };

function node(name: string, ns: string, peers: PeerEndpoint[]): FakeWorld {
  return new FakeWorld(ns, { node: name, peers: { endpoints: async () => peers } });
}

describe('membership store', () => {
  it('parses store URLs', () => {
    expect(parseStoreUrl('etcd://127.0.0.1:2379')).toEqual({ url: 'etcd://127.0.0.1:2379', hosts: ['http://127.0.0.1:2379'], ttl: 60, tls: false });
    expect(parseStoreUrl('etcds://a:1,b:2')).toMatchObject({ hosts: ['https://a:1', 'https://b:2'], tls: true });
    // Credentials never go in the URL, and the error does not repeat them.
    expect(() => parseStoreUrl('etcd://root:s3cret@a:1')).toThrow(UsageError);
    expect(() => parseStoreUrl('etcds://root:s3cret@a:1')).not.toThrow(/s3cret/);
    expect(parseStoreUrl('etcd://a:1,b:2/?ttl=5').hosts).toEqual(['http://a:1', 'http://b:2']);
    expect(parseStoreUrl('etcd://a:1?ttl=5').ttl).toBe(5);
    expect(() => parseStoreUrl('consul://a:1')).toThrow(UsageError);
    expect(() => parseStoreUrl('etcd://a')).toThrow(/HOST:PORT/);
    expect(() => parseStoreUrl('etcd://a:1?ttl=1')).toThrow(/ttl=SECONDS/);
  });

  it('publishes the local endpoints on global networks, and reads them back', async () => {
    const w = node('node-1', 'h1', []);
    const r = await w.apply(shared + yaml.network('br', '{}') + yaml.container('local', '{host: node-1, networks: [br]}'));
    const eps = localEndpoints(r.topology);
    const web1 = r.topology.containers.get('web1')?.endpoints[0];
    expect(eps).toEqual([{ node: 'node-1', nodeAddress: '192.168.77.1', container: 'web1', network: 'ovl', ipv4: `${web1?.ipv4?.address}/24`, mac: web1?.mac, aliases: [] }]);
    expect(parseEndpoint(JSON.stringify(eps[0]))).toEqual(eps[0]);
    expect(parseEndpoint('{"node":"x"}')).toBeUndefined();
    expect(parseEndpoint('not json')).toBeUndefined();
  });

  it('programs a container another node published, and gives it DNS names in the topology', async () => {
    const w = node('node-1', 'h1', [guest]);
    const r = await w.apply(shared);
    const g = r.topology.containers.get('guest');
    expect(g).toMatchObject({ local: false, source: 'store', hostAddress: '192.168.77.3' });
    expect(g?.endpoints[0]).toMatchObject({ network: 'ovl', ipv4: { address: '10.0.9.9', prefix: 24 }, mac: '02:42:0a:00:09:09', aliases: ['visitor'] });
    const h = w.kernel.ns('h1');
    const addr = (c: string) => r.topology.containers.get(c)?.endpoints[0]?.ipv4?.address;
    expect(h.neigh.map((n) => n.address).sort()).toEqual([addr('web2'), addr('web3'), '10.0.9.9'].sort());
    expect(h.fdb.map((f) => `${f.mac} ${f.dst}`)).toContain('00:00:00:00:00:00 192.168.77.3');
    expect(w.kernel.namespaces.has('h1-guest')).toBe(false);
  });

  it('reserves published addresses: a dynamic container does not take one (its own node sees the same store)', async () => {
    const addr = (r: ReconcileResult, c: string) => r.topology.containers.get(c)?.endpoints[0]?.ipv4?.address;
    const wanted = addr(await node('node-1', 'h1', []).apply(shared), 'web2');
    const taken = { ...guest, ipv4: `${wanted}/24` };
    const r = await node('node-1', 'h1', [taken]).apply(shared);
    expect(addr(r, 'guest')).toBe(wanted);
    expect(addr(r, 'web2')).not.toBe(wanted);
    const r2 = await node('node-2', 'h2', [taken]).apply(shared);
    expect(addr(r2, 'web2')).toBe(addr(r, 'web2'));
  });

  it('a static address in the manifests wins over a published one', async () => {
    const text = shared.replace('{host: node-2, networks: [ovl]}', '{host: node-2, networks: {ovl: {ipv4Address: 10.0.9.3}}}');
    const r = await node('node-1', 'h1', [{ ...guest, ipv4: '10.0.9.3/24', mac: '02:42:0a:00:09:03' }]).apply(text);
    expect(r.topology.containers.get('web2')?.endpoints[0]?.ipv4?.address).toBe('10.0.9.3');
    expect(r.topology.containers.has('guest')).toBe(false);
  });

  it('keeps the address the owner published for a manifest container (sticky through the store)', async () => {
    const published: PeerEndpoint = { node: 'node-2', nodeAddress: '192.168.77.2', container: 'web2', network: 'ovl', ipv4: '10.0.9.7/24', mac: '02:42:0a:00:09:07', aliases: [] };
    const r = await node('node-1', 'h1', [published]).apply(shared);
    expect(r.topology.containers.get('web2')?.endpoints[0]?.ipv4?.address).toBe('10.0.9.7');
  });

  it('ignores its own publications, unknown networks and addresses outside the subnet', async () => {
    const r = await node('node-1', 'h1', [
      { ...guest, node: 'node-1', container: 'mine' },
      { ...guest, container: 'lost', network: 'nope' },
      { ...guest, container: 'outside', ipv4: '10.1.0.5/24' },
    ]).apply(shared);
    expect([...r.topology.containers.keys()].sort()).toEqual(['web1', 'web2', 'web3']);
  });

  it('needs this node to be a declared Host', async () => {
    const w = new FakeWorld('h1', { node: 'node-9', peers: { endpoints: async () => [] } });
    await expect(w.apply(yaml.network('ovl', '{driver: overlay}'))).rejects.toThrow(/--store: this node must be a declared Host/);
  });

  it('an unreachable store fails the apply before anything is written', async () => {
    const w = new FakeWorld('h1', { node: 'node-1', peers: { endpoints: async () => Promise.reject(new WeftError('STORE', 'membership store etcd://x:1: reading endpoints failed: 14 UNAVAILABLE')) } });
    await expect(w.apply(shared)).rejects.toThrow(/membership store etcd:\/\/x:1: reading endpoints failed/);
    expect(w.takeWrites()).toEqual([]);
  });

  it('names the endpoint a changed key belongs to', () => {
    expect(storeChange('put', '/weft/v1/endpoints/node-3/ovl/guest')).toEqual({ type: 'put', key: '/weft/v1/endpoints/node-3/ovl/guest', node: 'node-3', network: 'ovl', container: 'guest' });
    expect(storeChange('delete', '/weft/v1/endpoints/node-3/ovl')).toEqual({ type: 'delete', key: '/weft/v1/endpoints/node-3/ovl' });
    expect(storeChange('put', '/weft/v1/nodes/node-3')).toEqual({ type: 'put', key: '/weft/v1/nodes/node-3' });
  });

  it('compares endpoint lists in any order and with any property order', () => {
    const other = { ...guest, container: 'other', ipv4: '10.0.9.10/24' };
    const reordered = JSON.parse(JSON.stringify({ aliases: guest.aliases, mac: guest.mac, ipv4: guest.ipv4, network: 'ovl', container: 'guest', nodeAddress: guest.nodeAddress, node: guest.node })) as PeerEndpoint;
    expect(sameEndpoints([guest, other], [other, reordered])).toBe(true);
    expect(sameEndpoints([guest], [{ ...guest, mac: '02:42:0a:00:09:99' }])).toBe(false);
    expect(sameEndpoints([guest], [{ ...guest, aliases: [] }])).toBe(false);
    expect(sameEndpoints([guest], [guest, other])).toBe(false);
  });

  it('keeps the last endpoints read in a file of the state directory', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-cache-'));
    try {
      const cache = new EndpointCacheFile(path.join(dir, 'state', 'h1.store-endpoints.json'));
      expect(await cache.load()).toBeUndefined();
      await cache.save([guest]);
      expect(await cache.load()).toEqual([guest]);
      await writeFile(cache.file, '{"endpoints": [{"node": "x"}, 7]}');
      expect(await cache.load()).toEqual([]);
      await writeFile(cache.file, 'not json');
      expect(await cache.load()).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
