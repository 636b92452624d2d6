import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkId } from '../../src/net/ids.js';
import type { DaemonProc } from '../support/daemon.js';
import { daemonStatus, http, reconciles, startWatch, stopDaemon } from '../support/daemon.js';
import type { TestHost } from '../support/netns.js';
import { eventually, repoRoot, run } from '../support/netns.js';
import type { StoreServer } from '../support/stores.js';
import { startStore, storeKinds } from '../support/stores.js';
import { Underlay, endpointOn } from '../support/underlay.js';

/**
 * Dynamic membership with the watch daemon: two hosts on an underlay, each running
 * `weft watch --store etcd://...` against a real etcd, then `--store zk://...` against a real
 * ZooKeeper (the same tests: both stores keep the same promises). A container is added to host A's manifests
 * (only A's): host B runs nothing but its daemon, which learns the container from the store,
 * programs it on the overlay and answers its name. Then the store goes away and comes back, A's
 * daemon stops cleanly (its lease is revoked) and is killed (its lease expires).
 */
describe.each(storeKinds)('weft watch --store %s: two hosts, dynamic membership', (kind) => {
  let ul: Underlay;
  let srv: StoreServer;
  let hA: TestHost;
  let hB: TestHost;
  let store = '';
  /** A's manifests: a copy of the example, to which the test adds a container. */
  let aDir = '';
  let a: DaemonProc | undefined;
  let b: DaemonProc | undefined;
  let guest = { ip: '', mac: '' };
  const examples = path.join(repoRoot, 'examples/multihost');
  const vx = `vx-${networkId('my-multi-host-network').slice(0, 12)}`;

  const watchA = (ttl: number) => startWatch(hA, ['--node', 'node-1', '--store', `${store}?ttl=${ttl}`, '-f', aDir]);
  const neigh = async (h: TestHost) => (await run(['ip', '-n', h.name, 'neigh', 'show', 'dev', vx])).stdout;
  const fdb = async (h: TestHost) => (await run(['ip', 'netns', 'exec', h.name, 'bridge', 'fdb', 'show', 'dev', vx])).stdout;
  /** B has what it needs to reach the guest: its neighbour and FDB entries. */
  const bKnowsGuest = async () => (await neigh(hB)).includes(`${guest.ip} lladdr ${guest.mac}`) && (await fdb(hB)).includes(`${guest.mac} dst 192.168.77.1 self permanent`);
  const ping = async (from: string, to: string) => (await hB.exec(from, ['ping', '-c1', '-W1', to])).code === 0;
  const ready = async (h: TestHost) => (await daemonStatus(h))?.ready === true;

  beforeAll(async () => {
    ul = await Underlay.create();
    hA = await ul.addHost(1);
    hB = await ul.addHost(2);
    srv = await startStore(kind, ul);
    store = srv.url;
    const files = await readdir(examples);
    aDir = await hA.manifests(Object.fromEntries(await Promise.all(files.map(async (f) => [f, await readFile(path.join(examples, f), 'utf8')] as const))), 'node-1');
    b = startWatch(hB, ['--node', 'node-2', '--store', `${store}?ttl=30`, '-f', examples]);
    a = watchA(30);
  });
  // Cleaning up waits for both daemons to stop and for etcd: more than the default hook timeout under load.
  afterAll(async () => {
    await Promise.all([stopDaemon(a), stopDaemon(b)]);
    await ul?.cleanup();
  }, 120_000);

  it("a container added to A's manifests becomes reachable from B by address, and by name through B's daemon", async () => {
    await eventually(async () => (await ready(hA)) && (await ready(hB)), 30_000, 250);
    // B may be ready before A has published its endpoint: B learns it from the store's watch.
    await eventually(async () => (await daemonStatus(hB))?.store?.remoteEndpoints === 1, 20_000, 250);
    const from = b!.output().length;
    const t0 = Date.now();
    // node-1 runs one more container, known to its own manifests only.
    await writeFile(path.join(aDir, 'guest.yaml'), 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: guest}\nspec: {host: node-1, networks: {my-multi-host-network: {aliases: [visitor]}}}\n');
    await eventually(() => endpointOn(hA, 'my-multi-host-network', 'guest').then((e) => ((guest = e), true), () => false), 20_000, 250);
    expect(guest.ip).toMatch(/^10\.0\.9\.\d+$/);
    await eventually(bKnowsGuest, 15_000, 100);
    console.log(`guest.yaml written on A -> guest's entries programmed on B after ${Date.now() - t0} ms`);
    await eventually(() => ping('web2', guest.ip), 10_000, 250);
    // B's own DNS server (in its daemon) answers the guest's name and alias.
    for (const name of ['guest', 'visitor']) {
      await eventually(async () => (await hB.exec('web2', ['getent', 'hosts', name])).stdout.includes(guest.ip), 15_000, 250);
    }
    expect(await ping('web2', 'guest')).toBe(true);
    // Nothing but B's daemon ran on B: it reconciled because the store changed.
    expect(reconciles(b!, from).some((r) => r.trigger.includes('store') && r.result === 'applied')).toBe(true);
    const s = (await daemonStatus(hB))!;
    expect(s.store).toMatchObject({ url: `${store}?ttl=30`, connected: true, watching: true, lastPublish: { endpoints: 1 } });
    // web1 and guest, both published by node-1
    expect(s.store?.remoteEndpoints).toBe(2);
    const m = (await http(hB, '/metrics')).body;
    expect(m).toMatch(/^weft_store_connected 1$/m);
    expect(m).toMatch(/^weft_store_remote_endpoints 2$/m);
    expect(m).toMatch(/^weft_store_published_endpoints 1$/m);
    const human = await hB.weft(['status']);
    expect(human.stdout).toMatch(new RegExp(`^store: +${store.replace(/[.?]/g, '\\$&')}\\?ttl=30 connected; 2 remote endpoints`, 'm'));
  }, 90_000);

  it('while the store is down, B keeps the endpoints it knows and is not ready; it catches up when the store is back', async () => {
    await srv.stop();
    await eventually(async () => (await daemonStatus(hB))?.error?.kind === 'store', 20_000, 250);
    expect((await http(hB, '/readyz')).code).toBe(503);
    expect((await http(hB, '/readyz')).body).toMatch(new RegExp(`^not ready: store: membership store ${kind}://`));
    expect((await daemonStatus(hB))?.store).toMatchObject({ connected: false, remoteEndpoints: 2 });
    expect((await http(hB, '/metrics')).body).toMatch(/^weft_store_connected 0$/m);
    // A full reconcile without the store (SIGHUP) keeps what B programmed for the guest.
    const from = b!.output().length;
    process.kill((await daemonStatus(hB))!.pid, 'SIGHUP');
    await eventually(async () => reconciles(b!, from).some((r) => r.trigger.includes('signal')), 20_000, 250);
    expect(reconciles(b!, from).find((r) => r.trigger.includes('signal'))?.result).toBe('converged');
    expect(await bKnowsGuest()).toBe(true);
    expect(await ping('web2', guest.ip)).toBe(true);
    await srv.restart();
    // Tells, when it fails, what each daemon last said about the store.
    await eventually(async () => (await ready(hA)) && (await ready(hB)), 30_000, 250).catch((err: unknown) => {
      const tail = (d: DaemonProc | undefined) => d?.output().split('\n').filter((l) => l.includes('store')).slice(-8).join('\n');
      console.error(`A:\n${tail(a)}\nB:\n${tail(b)}`);
      throw err;
    });
    expect((await daemonStatus(hB))?.store).toMatchObject({ connected: true, remoteEndpoints: 2 });
    expect(await bKnowsGuest()).toBe(true);
  }, 90_000);

  it("SIGTERM on A: B drops A's endpoints from the store at once (the lease is revoked, not expired)", async () => {
    const t0 = Date.now();
    const stopped = stopDaemon(a);
    a = undefined;
    // The lease's TTL is 30 s: gone well before that means it was revoked.
    await eventually(async () => !(await bKnowsGuest()), 15_000, 50);
    console.log(`SIGTERM -> guest's entries gone from B after ${Date.now() - t0} ms (ttl 30 s)`);
    expect(await stopped).toBe(0);
    // B's DNS forgets the name too.
    await eventually(async () => (await hB.exec('web2', ['getent', 'hosts', 'guest'])).code !== 0, 10_000, 250);
    // The containers of the manifests stay: A left its network in place, and B keeps web1 from the manifests.
    const web1 = await endpointOn(hA, 'my-multi-host-network', 'web1');
    expect(await neigh(hB)).toContain(`${web1.ip} lladdr ${web1.mac}`);
    expect(await ping('web2', web1.ip)).toBe(true);
    expect((await daemonStatus(hB))?.store?.remoteEndpoints).toBe(0);
  }, 60_000);

  it("SIGKILL on A: its endpoints stay until the lease's TTL runs out, then B drops them", async () => {
    a = watchA(4);
    await eventually(bKnowsGuest, 30_000, 250);
    await eventually(() => ready(hA), 15_000, 250);
    const pid = (await daemonStatus(hA))!.pid;
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    await a.exited;
    a = undefined;
    // Nothing withdrew them: they stay until the lease expires (4 s).
    expect(await bKnowsGuest()).toBe(true);
    await eventually(async () => !(await bKnowsGuest()), 30_000, 100);
    console.log(`SIGKILL -> guest's entries gone from B after ${Date.now() - t0} ms (ttl 4 s)`);
    expect(await ready(hB)).toBe(true);
  }, 90_000);
});
