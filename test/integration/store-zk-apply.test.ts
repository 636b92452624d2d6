import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkId } from '../../src/net/ids.js';
import type { TestHost } from '../support/netns.js';
import { eventually, repoRoot, run } from '../support/netns.js';
import type { StoreServer } from '../support/stores.js';
import { startStore } from '../support/stores.js';
import { Underlay, endpointOn, weftOn } from '../support/underlay.js';

/**
 * One-shot `weft apply --store zk://...` (no daemon, so no session to hold an ephemeral znode):
 * the node's znode is persistent and counts for ttl seconds after its last write, as an etcd
 * lease of ttl seconds would. The same steps as the etcd case in multihost.test.ts.
 */
describe('weft apply --store zk://: a container outside the manifests, published for ttl seconds', () => {
  let ul: Underlay;
  let h1: TestHost;
  let h2: TestHost;
  let zk: StoreServer;
  const examples = path.join(repoRoot, 'examples/multihost');
  const vx = `vx-${networkId('my-multi-host-network').slice(0, 12)}`;

  beforeAll(async () => {
    ul = await Underlay.create();
    h1 = await ul.addHost(1);
    h2 = await ul.addHost(2);
    zk = await startStore('zk', ul);
  }, 90_000);
  afterAll(async () => {
    await ul?.cleanup();
  }, 60_000);

  it('node-1 programs node-2\'s guest from the store, and removes it once node-2 stops applying', async () => {
    const files = Object.fromEntries(await Promise.all(['hosts.yaml', 'networks.yaml', 'containers.yaml'].map(async (f) => [f, await readFile(path.join(examples, f), 'utf8')] as const)));
    const shared = await h1.manifests(files, 'shared');
    const local2 = await h2.manifests({ 'guest.yaml': 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: guest}\nspec: {host: node-2, networks: [my-multi-host-network]}\n' }, 'local');
    const store = `${zk.url}?ttl=8`;
    const watcher = ul.sw.spawn(['ip', 'netns', 'exec', ul.sw.name, 'node', path.join(repoRoot, 'test/support/store-watch.mjs'), zk.url]);
    await eventually(async () => watcher.output().includes('watching'), 20_000);

    const r2 = await weftOn(h2, ['--node', 'node-2', '--store', store, 'apply', '-f', shared, '-f', local2]);
    expect(r2.code, r2.stderr).toBe(0);
    await eventually(async () => watcher.output().includes('put /weft/v1/endpoints/node-2/my-multi-host-network/guest'), 10_000);
    const guest = await endpointOn(h2, 'my-multi-host-network', 'guest');
    const r1 = await weftOn(h1, ['--node', 'node-1', '--store', store, 'apply', '--detail', '-f', shared]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toContain(`+ fdb ${guest.mac} dst 192.168.77.2 on ${vx} network my-multi-host-network`);
    expect((await h1.exec('web1', ['ping', '-c1', '-W2', guest.ip])).code).toBe(0);

    // node-2 does not apply again: after ttl seconds its publication no longer counts (the
    // watcher sees the delete), and node-1's next apply removes what it programmed for the guest.
    await eventually(async () => watcher.output().includes('delete /weft/v1/endpoints/node-2/my-multi-host-network/guest'), 30_000, 250);
    const again = await weftOn(h1, ['--node', 'node-1', '--store', store, 'apply', '--detail', '-f', shared]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`- fdb ${guest.mac} dst 192.168.77.2 on ${vx} network my-multi-host-network`);
    // The VXLAN device's own entries (the bridge's learnt ones, "master ov-...", age out by themselves).
    const own = (await run(['ip', 'netns', 'exec', h1.name, 'bridge', 'fdb', 'show', 'dev', vx])).stdout.split('\n').filter((l) => l.includes(' self'));
    expect(own.join('\n')).not.toContain(guest.mac);
  }, 150_000);
});
