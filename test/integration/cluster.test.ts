import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, containerAddress, containerName } from '../../bench/cluster/cluster.js';
import { addToReachable, fastArp, fdbCounts, fdbFollow } from '../../bench/cluster/measure.js';
import { run } from '../../bench/lib/proc.js';

/**
 * The cluster bench (npm run bench:cluster) in small: 5 simulated hosts with 2 containers each on
 * 2 overlays, each host running `weft watch --store etcd://...` with only its own containers in its
 * manifests. Everything a host knows about the others comes through the store.
 */
describe('a simulated cluster: 5 hosts x 2 containers, one etcd', () => {
  let c: Cluster | undefined;
  const TTL = 30;

  beforeAll(async () => {
    c = await Cluster.create({ hosts: 5, containers: 2, networks: 2, store: 'etcd', ttl: TTL, resync: '60s', startBatch: 5, log: () => undefined });
    await c.build();
    await c.startAll();
    await Promise.all(c.hosts.map((h) => c!.waitReady(h, 90_000, 4 * 2)));
    await fastArp(c);
  }, 150_000);
  afterAll(async () => {
    await c?.cleanup();
  }, 120_000);

  it("every host reaches the other hosts' containers over VXLAN (learnt from the store only)", async () => {
    const cl = c!;
    const [from, ...others] = cl.hosts;
    for (const h of others) {
      const r = await cl.status(h);
      expect(r?.store).toMatchObject({ connected: true, remoteEndpoints: 8 });
      const ping = await run(['ip', 'netns', 'exec', cl.containerNetns(from!, containerName(1, 0)), 'ping', '-c1', '-W2', containerAddress(0, h.index, 0)]);
      expect(ping.code, `${from!.node} -> ${h.node}: ${ping.stdout}`).toBe(0);
    }
  }, 60_000);

  it('a container added on one host becomes reachable from all the others', async () => {
    const times = await addToReachable(c!, c!.hosts[2]!, 0, 30_000);
    expect(times).toHaveLength(4);
    for (const t of times) expect(t).toBeLessThan(30_000);
    console.log(`add -> reachable from all 4 other hosts after ${Math.max(...times)} ms`);
  }, 60_000);

  it("SIGTERM on one host: the others drop its entries well before the lease's TTL (the lease is revoked)", async () => {
    const cl = c!;
    const gone = cl.hosts[1]!;
    const before = await fdbCounts(cl, gone);
    // Two containers (one per overlay) on every other host point at it.
    for (const n of before.values()) expect(n).toBe(2);
    const times = await fdbFollow(cl, gone, 'gone', before, () => cl.stopDaemon(gone, 'SIGTERM'), 20_000);
    for (const t of times) expect(t).toBeLessThan((TTL * 1000) / 2);
    for (const n of (await fdbCounts(cl, gone)).values()) expect(n).toBe(0);
    console.log(`SIGTERM -> entries gone on all 4 other hosts after ${Math.max(...times)} ms (ttl ${TTL} s)`);
  }, 60_000);
});
