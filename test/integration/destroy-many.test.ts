import { describe, expect, it } from 'vitest';
import { TestHost, must, run } from '../support/netns.js';
import { isForeign } from '../support/foreign.js';

/**
 * Deterministic destroy (issue 12 item 5): deleting a namespace returns at once and the kernel
 * destroys its veths later, so `destroy` waits for the host ends' RTM_DELLINK before it verifies.
 * It exits 0 exactly when everything weft owned is gone: right after it, `ip link` in the host
 * namespace shows no veth, `ip netns` no container namespace, nft no published port. A namespace
 * that something else keeps alive (a process inside it) never destroys its veth: destroy deletes
 * that host end itself.
 */
const N = 40;
const net = 'apiVersion: weft/v1\nkind: Network\nmetadata: {name: dnet}\nspec:\n  driver: bridge\n  ipam:\n    config:\n      - subnet: 10.231.0.0/24\n';
const ctr = (i: number) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: d${i}}\nspec:\n  networks: [dnet]\n  ports: ["${20000 + i}:80"]\n`;

describe('destroy of many containers with published ports', () => {
  it(`exits 0 and leaves no link, namespace or port behind, right away (${N} containers, 3 rounds)`, async () => {
    const host = await TestHost.create('wy');
    try {
      const dir = await host.manifests({ 'n.yaml': net, 'c.yaml': Array.from({ length: N }, (_, i) => ctr(i)).join('---\n') });
      for (let round = 0; round < 3; round++) {
        const up = await host.weft(['apply', '-f', dir], { timeoutMs: 180_000 });
        expect(up.code, up.stderr).toBe(0);
        const links = JSON.parse(await must(['ip', '-n', host.name, '-j', 'link', 'show'])) as { ifname: string }[];
        expect(links.filter((l) => l.ifname.startsWith('veth')).length).toBe(N);
        const down = await host.weft(['destroy', '-f', dir], { timeoutMs: 180_000 });
        expect(down.code, down.stderr).toBe(0);
        // right after: nothing weft owned
        const after = JSON.parse(await must(['ip', '-n', host.name, '-j', 'link', 'show'])) as { ifname: string }[];
        expect(after.map((l) => l.ifname).filter((n) => !isForeign(n))).toEqual(['lo']);
        const ns = (await run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`${host.name}-`));
        expect(ns).toEqual([]);
        const tables = await must(['ip', 'netns', 'exec', host.name, 'nft', 'list', 'tables']);
        expect(tables).not.toMatch(/weft/);
      }
    } finally {
      await host.cleanup();
    }
  }, 600_000);

  it('a container namespace kept alive by a process inside it: destroy deletes the veth itself and exits 0', async () => {
    const host = await TestHost.create('wy');
    try {
      const dir = await host.manifests({ 'n.yaml': net, 'c.yaml': [ctr(1), ctr(2)].join('---\n') });
      const up = await host.weft(['apply', '-f', dir], { timeoutMs: 120_000 });
      expect(up.code, up.stderr).toBe(0);
      // a process holds d1's namespace: deleting its name does not destroy it
      const holder = host.spawn(['ip', 'netns', 'exec', host.netns('d1'), 'sleep', '120']);
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      const down = await host.weft(['destroy', '-f', dir], { timeoutMs: 120_000 });
      expect(down.code, down.stderr).toBe(0);
      const after = JSON.parse(await must(['ip', '-n', host.name, '-j', 'link', 'show'])) as { ifname: string }[];
      expect(after.map((l) => l.ifname).filter((n) => !isForeign(n))).toEqual(['lo']);
      // the veth pair is gone from the kept namespace too
      const kept = await must(['nsenter', `--net=/proc/${holder.pid}/ns/net`, 'ip', '-j', 'link', 'show']).catch(() => '[]');
      expect((JSON.parse(kept) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n !== 'lo')).toEqual([]);
      expect(Date.now() - t0).toBeLessThan(60_000);
    } finally {
      await host.cleanup();
    }
  }, 300_000);
});
