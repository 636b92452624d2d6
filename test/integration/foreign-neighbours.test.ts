import { rm, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { foreignEtcDir } from '../support/foreign.js';
import { TestHost, must } from '../support/netns.js';

// Issue 16, foreign neighbours: objects weft did not make share the host namespace. A full run of
// weft (apply with networks and published ports, a change, a prune, destroy) leaves every one of
// them as it was; and the check that says so fails when any of them changes.

const net = 'apiVersion: weft/v1\nkind: Network\nmetadata: {name: fnet}\nspec:\n  driver: bridge\n  ipam:\n    config:\n      - subnet: 10.219.0.0/24\n';
const ctr = (name: string, port: number) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec:\n  networks: [fnet]\n  ports: ["${port}:80"]\n`;

describe('foreign neighbours', () => {
  it('apply, change, prune and destroy leave the foreign bridge, veths, table, route, neighbour and /etc/netns folder as they were', async () => {
    const host = await TestHost.create('wf', { foreign: true });
    try {
      const a = await host.manifests({ 'n.yaml': net, 'c.yaml': `${ctr('a1', 18080)}---\n${ctr('a2', 18081)}` }, 'a');
      expect((await host.weft(['apply', '-f', a])).code).toBe(0);
      await host.checkForeign();
      const b = await host.manifests({ 'n.yaml': net, 'c.yaml': ctr('a1', 18090) }, 'b');
      const pruned = await host.weft(['apply', '--prune', '-f', b]);
      expect(pruned.code, pruned.stderr).toBe(0);
      await host.checkForeign();
      expect((await host.weft(['destroy', '-f', b])).code).toBe(0);
      await host.checkForeign();
    } finally {
      await host.cleanup();
    }
  });

  const ip = (host: TestHost, args: string) => must(['ip', '-n', host.name, ...args.split(' ')]);
  const changes: [string, (h: TestHost) => Promise<unknown>][] = [
    ['a link', (h) => ip(h, 'link set frnva down')],
    ['an address', (h) => ip(h, 'addr del 198.19.250.1/24 dev frnbr0')],
    ['a route', (h) => ip(h, 'route del 198.19.251.0/24')],
    ['a neighbour', (h) => ip(h, 'neigh del 198.19.250.9 dev frnbr0')],
    ['an nft rule', (h) => must(['ip', 'netns', 'exec', h.name, 'nft', 'flush', 'chain', 'inet', 'frn_neighbour', 'f_fwd'])],
    ['an /etc/netns file', (h) => writeFile(`${foreignEtcDir(h.name)}/hosts`, 'changed\n')],
    ['an /etc/netns folder', (h) => rm(foreignEtcDir(h.name), { recursive: true })],
  ];
  for (const [what, change] of changes) {
    it(`the check fails when ${what} of the neighbours changes`, async () => {
      const host = await TestHost.create('wf', { foreign: true });
      await change(host).catch(async (err: unknown) => {
        await host.cleanup();
        throw err;
      });
      await expect(host.checkForeign()).rejects.toThrow(/foreign objects in host .* changed/);
      // cleanup() reports it too, after removing everything.
      await expect(host.cleanup()).rejects.toThrow(/changed/);
    });
  }
});
