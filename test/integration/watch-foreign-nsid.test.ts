import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonProc } from '../support/daemon.js';
import { daemonStatus, startWatch, stopDaemon } from '../support/daemon.js';
import { TestHost, eventually, must } from '../support/netns.js';

// Issue 11 finding 12 on the real kernel: a namespace with an nsid but no name (as Docker's and
// CNI's are) changing links and addresses must not make the daemon reconcile or spawn a lookup
// per event.
describe('daemon and unnamed foreign namespaces', () => {
  let host: TestHost;
  let daemon: DaemonProc | undefined;
  beforeAll(async () => {
    host = await TestHost.create('wn');
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await host?.cleanup();
  });

  it('ignores their events: no reconcile, at most one nsid lookup', async () => {
    const dir = await host.manifests({ 'a.yaml': 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: a}\nspec: {networks: [none]}\n' });
    daemon = startWatch(host, ['-f', dir, '--resync', '0', '--no-dns']);
    await eventually(async () => (await daemonStatus(host))?.ready === true, 30_000);
    // An unnamed namespace (a process's own), numbered by the host namespace through a veth.
    const foreign = host.spawn(['ip', 'netns', 'exec', host.name, 'unshare', '--net', 'sleep', '300']);
    await eventually(async () => (await must(['readlink', `/proc/${foreign.pid}/ns/net`])) !== (await must(['ip', 'netns', 'exec', host.name, 'readlink', '/proc/self/ns/net'])), 5000);
    await must(['ip', '-n', host.name, 'link', 'add', 'fv0', 'type', 'veth', 'peer', 'name', 'fv1', 'netns', String(foreign.pid)]);
    // The host-side end is a foreign link in the host namespace: let that settle first.
    let last = JSON.stringify((await daemonStatus(host))!.reconciles);
    for (let stable = 0; stable < 4; ) {
      await new Promise((r) => setTimeout(r, 300));
      const now = JSON.stringify((await daemonStatus(host))!.reconciles);
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
    const before = (await daemonStatus(host))!;
    const inside = (argv: string[]) => must(['nsenter', '-t', String(foreign.pid), '-n', ...argv]);
    for (let i = 0; i < 15; i++) {
      await inside(['ip', 'addr', 'add', `198.18.99.${i + 1}/32`, 'dev', 'fv1']);
      await inside(['ip', 'link', 'set', 'fv1', 'mtu', String(1400 + i)]);
    }
    await eventually(async () => ((await daemonStatus(host))!.drift.foreignEventsIgnored ?? 0) > 0, 15_000);
    await new Promise((r) => setTimeout(r, 1000));
    const after = (await daemonStatus(host))!;
    expect(after.reconciles).toEqual(before.reconciles);
    expect(after.drift.events).toBe(before.drift.events);
    expect((after.drift.nsIdLookups ?? 0) - (before.drift.nsIdLookups ?? 0)).toBeLessThanOrEqual(2);
  });
});
