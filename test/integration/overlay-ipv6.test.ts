import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkId } from '../../src/net/ids.js';
import type { TestHost } from '../support/netns.js';
import { eventually, run } from '../support/netns.js';
import { Underlay } from '../support/underlay.js';

/**
 * IPv6 on an overlay network (VXLAN over an IPv4 underlay): two simulated hosts on an underlay
 * switch, a dual-stack overlay across them, real IPv6 traffic between containers on different
 * hosts. Remote endpoints are programmed statically for both families (fdb and permanent
 * neighbour entries), so IPv6 neighbour discovery is answered by the VXLAN device.
 */
describe('overlay network with IPv6 (two hosts, VXLAN over IPv4)', () => {
  let ul: Underlay;
  let h1: TestHost;
  let h2: TestHost;
  let dir = '';
  const vx = `vx-${networkId('ov6').slice(0, 12)}`;
  const manifests =
    'apiVersion: weft/v1\nkind: Host\nmetadata: {name: node-1}\nspec: {address: 198.18.77.1}\n---\n' +
    'apiVersion: weft/v1\nkind: Host\nmetadata: {name: node-2}\nspec: {address: 198.18.77.2}\n---\n' +
    'apiVersion: weft/v1\nkind: Network\nmetadata: {name: ov6}\nspec: {driver: overlay, enableIPv6: true, ipam: {config: [{subnet: 10.0.19.0/24}, {subnet: "fd31:19::/64"}]}}\n---\n' +
    'apiVersion: weft/v1\nkind: Container\nmetadata: {name: a}\nspec: {host: node-1, networks: {ov6: {ipv6Address: "fd31:19::10"}}}\n---\n' +
    'apiVersion: weft/v1\nkind: Container\nmetadata: {name: b}\nspec: {host: node-2, networks: [ov6]}\n';
  const ping6 = async (h: TestHost, from: string, to: string) => (await run(['ip', 'netns', 'exec', h.netns(from), 'ping', '-6', '-c1', '-W2', to])).code === 0;
  /** A container's IPv6 address and MAC on ov6, from `weft network inspect` on the host that runs it. */
  const endpoint6 = async (h: TestHost, name: string) => {
    const r = await h.weft(['network', 'inspect', 'ov6']);
    const [net] = JSON.parse(r.stdout) as { EnableIPv6: boolean; Containers: Record<string, { Name: string; IPv6Address: string; MacAddress: string }> }[];
    const c = Object.values(net?.Containers ?? {}).find((x) => x.Name === name);
    return { enabled: net?.EnableIPv6, ip: c?.IPv6Address.replace(/\/\d+$/, '') ?? '', mac: c?.MacAddress ?? '' };
  };

  /** `weft apply` on node-1, then on node-2, each in its own host namespace. */
  const applyOnBoth = async () => [await h1.weft(['--node', 'node-1', 'apply', '-f', dir]), await h2.weft(['--node', 'node-2', 'apply', '-f', dir])];

  beforeAll(async () => {
    ul = await Underlay.create('198.18.77');
    h1 = await ul.addHost(1);
    h2 = await ul.addHost(2);
    dir = await h1.manifests({ 'ov6.yaml': manifests });
  });
  afterAll(async () => {
    await ul?.cleanup();
  });

  it('gives each container its IPv6 address on its own host and programs the other host\'s statically', async () => {
    for (const r of await applyOnBoth()) expect(r.code, r.stderr).toBe(0);
    const a = await endpoint6(h1, 'a');
    const b = await endpoint6(h2, 'b');
    expect(a).toMatchObject({ enabled: true, ip: 'fd31:19::10' });
    expect(b.ip).toMatch(/^fd31:19::[0-9a-f:]+$/);
    // Each host knows the other's container by both families, from the manifests alone.
    const neigh = async (h: TestHost) => (await run(['ip', '-n', h.name, '-6', 'neigh', 'show', 'dev', vx])).stdout;
    expect(await neigh(h1)).toContain(`${b.ip} lladdr ${b.mac} PERMANENT`);
    expect(await neigh(h2)).toContain(`${a.ip} lladdr ${a.mac} PERMANENT`);
  });

  it('containers on different hosts reach each other over IPv6, through VXLAN on UDP 4789', async () => {
    const b = await endpoint6(h2, 'b');
    const dump = ul.sw.spawn(['ip', 'netns', 'exec', ul.sw.name, 'tcpdump', '-nli', 'sw0', '-c', '2', 'udp port 4789']);
    await eventually(async () => dump.output().includes('listening'), 5000);
    expect(await ping6(h1, 'a', b.ip)).toBe(true);
    await Promise.race([dump.exited, new Promise((r) => setTimeout(r, 3000))]);
    expect(dump.output()).toMatch(/IP 198\.18\.77\.[12]\.\d+ > 198\.18\.77\.[12]\.4789: VXLAN/);
    expect(dump.output()).toContain(`fd31:19::10 > ${b.ip}: ICMP6, echo request`);
    expect(await ping6(h2, 'b', 'fd31:19::10')).toBe(true);
  });

  it('a repeated apply changes nothing on either host', async () => {
    const results = await applyOnBoth();
    expect(results.map((r) => r.stdout)).toEqual(['', '']);
    expect(results.map((r) => /\b0 kernel writes/.test(r.stderr))).toEqual([true, true]);
  });
});
