import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { PeerEndpoint } from '../../../src/compile/index.js';
import { UsageError } from '../../../src/errors.js';
import { openStoreUrl } from '../../../src/store/open.js';
import { EtcdStore } from '../../../src/store/etcd.js';
import { ZkStore, expiresAt, memberChanges, parseMember, parseZkUrl } from '../../../src/store/zookeeper.js';

const silent = { info() {}, debug() {}, warn() {}, error() {} } as unknown as Parameters<typeof openStoreUrl>[1];
const ep = (container: string, node = 'node-1', ipv4 = '10.0.9.2/24'): PeerEndpoint => ({ node, nodeAddress: '198.18.1.1', container, network: 'ovl', ipv4, mac: '02:42:0a:00:09:02', aliases: [] });

describe('ZooKeeper membership store', () => {
  it('parses zk:// URLs like etcd ones', () => {
    expect(parseZkUrl('zk://198.18.0.254:2181')).toEqual({ url: 'zk://198.18.0.254:2181', servers: '198.18.0.254:2181', ttl: 60 });
    expect(parseZkUrl('zk://a:1,b:2/?ttl=5')).toMatchObject({ servers: 'a:1,b:2', ttl: 5 });
    expect(() => parseZkUrl('zk://a')).toThrow(/HOST:PORT/);
    expect(() => parseZkUrl('zk://a:1?ttl=1')).toThrow(/ttl=SECONDS/);
    expect(() => parseZkUrl('zk://a:1?chroot=/x')).toThrow(UsageError);
    expect(() => parseZkUrl('zk://a:1/path')).toThrow(UsageError);
  });

  it('--store dispatches on the scheme: zk:// to ZooKeeper, the rest to etcd (which names what it accepts)', async () => {
    const zk = await openStoreUrl('zk://127.0.0.1:9?ttl=2', silent);
    expect(zk).toBeInstanceOf(ZkStore);
    await zk.close({ timeoutMs: 10 });
    const etcd = await openStoreUrl('etcd://127.0.0.1:9', silent);
    expect(etcd).toBeInstanceOf(EtcdStore);
    await etcd.close();
    await expect(openStoreUrl('consul://a:1', silent)).rejects.toThrow(UsageError);
  });

  it('reads a member znode; a node speaks for itself only, and anything else is no member', () => {
    const data = (o: unknown) => Buffer.from(JSON.stringify(o));
    expect(parseMember('node-1', data({ node: 'node-1', address: '198.18.1.1', endpoints: [ep('a'), ep('b', 'node-2'), { junk: true }] }))).toEqual({
      node: 'node-1',
      address: '198.18.1.1',
      endpoints: [ep('a')],
    });
    expect(parseMember('node-1', data({ node: 'node-2', address: 'x', endpoints: [] }))).toBeUndefined();
    expect(parseMember('node-1', Buffer.from('{not json'))).toBeUndefined();
    expect(parseMember('node-1', data(['node-1']))).toBeUndefined();
    expect(parseMember('node-1', undefined)).toBeUndefined();
    expect(parseMember('node-1', data({ node: 'node-1', address: 'x', endpoints: [], oneShot: { ttl: 5 } }))?.oneShot).toEqual({ ttl: 5 });
  });

  it("a one-shot member counts until ttl seconds after the server's last write; a daemon's while its session lives", () => {
    const mtime = Buffer.alloc(8);
    mtime.writeBigInt64BE(1_000_000n);
    expect(expiresAt({ node: 'n', address: 'a', endpoints: [], oneShot: { ttl: 5 } }, mtime)).toBe(1_005_000);
    expect(expiresAt({ node: 'n', address: 'a', endpoints: [] }, mtime)).toBe(Infinity);
  });

  it("reports a member's change per endpoint, with etcd's key layout", () => {
    expect(memberChanges('node-1', [ep('a'), ep('b')], [ep('b', 'node-1', '10.0.9.3/24'), ep('c')])).toEqual([
      { type: 'put', key: '/weft/v1/endpoints/node-1/ovl/b', node: 'node-1', network: 'ovl', container: 'b' },
      { type: 'put', key: '/weft/v1/endpoints/node-1/ovl/c', node: 'node-1', network: 'ovl', container: 'c' },
      { type: 'delete', key: '/weft/v1/endpoints/node-1/ovl/a', node: 'node-1', network: 'ovl', container: 'a' },
    ]);
    expect(memberChanges('node-1', [ep('a')], [ep('a')])).toEqual([]);
  });
});

describe('ZooKeeper session handshake', () => {
  it('a server that accepts the connection but never answers the session request is left, and the store connects again', async () => {
    // A ZooKeeper still starting can accept a connection and never read it: the client library
    // would wait for its answer forever (the daemon stayed disconnected after a store restart).
    const accepted: Socket[] = [];
    const ended = new Set<Socket>();
    const server = createServer((s) => {
      accepted.push(s);
      s.on('end', () => ended.add(s)).on('error', () => ended.add(s)).resume();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const store = new ZkStore({ url: `zk://127.0.0.1:${port}`, servers: `127.0.0.1:${port}`, ttl: 30, handshakeTimeoutMs: 300 }, silent);
    try {
      const t0 = Date.now();
      while (accepted.length < 3 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
      expect(accepted.length).toBeGreaterThanOrEqual(3);
      // Each earlier connection was closed by the client, not left hanging.
      expect(accepted.slice(0, 2).every((s) => ended.has(s))).toBe(true);
    } finally {
      await store.close({ timeoutMs: 10 });
      for (const s of accepted) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
