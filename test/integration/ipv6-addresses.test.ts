import { afterEach, describe, expect, it } from 'vitest';
import { TestHost, must, run, weftBin } from '../support/netns.js';

/**
 * IPv6 addresses are usable the moment apply returns, in both kernels: added without
 * duplicate-address detection (nodad), accept_dad=0 and accept_ra=0 on the container interfaces
 * before they come up (so their link-local addresses skip it too), and drift in either repaired.
 * Without this an address stays "tentative" for a second or more: it cannot be bound, and
 * traffic from it fails.
 */

const manifests =
  'apiVersion: weft/v1\nkind: Network\nmetadata: {name: front}\nspec: {enableIPv6: true, ipam: {config: [{subnet: 172.31.21.0/24}, {subnet: "fd31:21::/64"}]}}\n---\n' +
  'apiVersion: weft/v1\nkind: Container\nmetadata: {name: a}\nspec: {networks: {front: {ipv6Address: "fd31:21::10"}}}\n---\n' +
  'apiVersion: weft/v1\nkind: Container\nmetadata: {name: b}\nspec: {networks: {front: {ipv6Address: "fd31:21::11"}}}\n';

interface AddrInfo {
  family: string;
  local: string;
  scope: string;
  tentative?: boolean;
  nodad?: boolean;
}

/** Every IPv6 address of a namespace, as ip -j prints it, with its interface. */
async function addresses(ns: string): Promise<(AddrInfo & { dev: string })[]> {
  const links = JSON.parse(await must(['ip', '-n', ns, '-j', '-6', 'addr', 'show'])) as { ifname: string; addr_info?: AddrInfo[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => ({ ...a, dev: l.ifname })));
}

describe.each([
  ['in-process kernel', {}],
  ['process kernel', { WEFT_KERNEL: 'processes' }],
])('IPv6 addresses usable at once (%s)', (_name, env) => {
  let host: TestHost | undefined;
  afterEach(async () => {
    await host?.cleanup();
    host = undefined;
  });

  it('no address is tentative right after apply, traffic flows at once, and dropped flags come back', async () => {
    host = await TestHost.create('v6a');
    const h = host;
    const weft = (args: string[]) => run(['node', weftBin, '--host-netns', h.name, '--state-dir', h.stateDir, ...args], { env: { ...process.env, ...env } });
    const dir = await h.manifests({ 'net.yaml': manifests });
    const applied = await weft(['apply', '-f', dir]);
    expect(applied.code, applied.stderr).toBe(0);
    // Read at once: with duplicate-address detection these are tentative for a second or more.
    const [inA, inB, onHost] = await Promise.all([addresses(h.netns('a')), addresses(h.netns('b')), addresses(h.name)]);
    for (const a of [...inA, ...inB]) expect(a, JSON.stringify(a)).not.toHaveProperty('tentative');
    expect(inA.filter((a) => a.scope === 'link')).toHaveLength(1);
    expect(inA.find((a) => a.local === 'fd31:21::10')).toMatchObject({ dev: 'eth0', nodad: true });
    const gateway = onHost.find((a) => a.local === 'fd31:21::1');
    expect(gateway).toMatchObject({ nodad: true });
    expect(gateway).not.toHaveProperty('tentative');
    // One try, no waiting: a container reaches its neighbour and the gateway.
    expect((await run(['ip', 'netns', 'exec', h.netns('a'), 'ping', '-6', '-c1', '-W3', 'fd31:21::11'])).code).toBe(0);
    expect((await run(['ip', 'netns', 'exec', h.netns('b'), 'ping', '-6', '-c1', '-W3', 'fd31:21::1'])).code).toBe(0);
    const sysctl = (name: string) => must(['ip', 'netns', 'exec', h.netns('a'), 'cat', `/proc/sys/net/ipv6/conf/eth0/${name}`]);
    expect([await sysctl('accept_dad'), await sysctl('accept_ra')]).toEqual(['0\n', '0\n']);
    expect((await weft(['plan', '-f', dir])).stdout).toBe('');

    // Drift: the flag dropped by a replace, router advertisements turned back on.
    await must(['ip', '-n', h.netns('a'), 'addr', 'replace', 'fd31:21::10/64', 'dev', 'eth0']);
    await must(['ip', 'netns', 'exec', h.netns('a'), 'sysctl', '-qw', 'net.ipv6.conf.eth0.accept_ra=1']);
    expect((await addresses(h.netns('a'))).find((a) => a.local === 'fd31:21::10')).not.toHaveProperty('nodad');
    const plan = await weft(['plan', '--detail', '-f', dir]);
    expect(plan.stdout.trim().split('\n').sort()).toEqual([
      `~ address fd31:21::10/64 on eth0 in ${h.netns('a')} container a (nodad: (none) -> true)`,
      `~ sysctl net.ipv6.conf.eth0.accept_ra=0 in ${h.netns('a')} container a (value: 1 -> 0)`,
    ]);
    expect((await weft(['apply', '-f', dir])).code).toBe(0);
    expect((await addresses(h.netns('a'))).find((a) => a.local === 'fd31:21::10')).toMatchObject({ nodad: true });
    expect(await sysctl('accept_ra')).toBe('0\n');
    expect((await weft(['plan', '-f', dir])).stdout).toBe('');
  });

  it('an IPv4-only container has no IPv6 address at all, not even fe80 (its link comes up with address generation off)', async () => {
    host = await TestHost.create('v6n');
    const h = host;
    const weft = (args: string[]) => run(['node', weftBin, '--host-netns', h.name, '--state-dir', h.stateDir, ...args], { env: { ...process.env, ...env } });
    const dir = await h.manifests({
      'net.yaml':
        'apiVersion: weft/v1\nkind: Network\nmetadata: {name: v4only}\nspec: {ipam: {config: [{subnet: 172.31.22.0/24}]}}\n---\n' +
        'apiVersion: weft/v1\nkind: Container\nmetadata: {name: c}\nspec: {networks: [v4only]}\n',
    });
    const applied = await weft(['apply', '-f', dir]);
    expect(applied.code, applied.stderr).toBe(0);
    expect((await addresses(h.netns('c'))).filter((a) => a.dev === 'eth0')).toEqual([]);
    expect((await weft(['plan', '-f', dir])).stdout).toBe('');
  });
});
