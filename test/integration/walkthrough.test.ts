import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHost, repoRoot, run } from '../support/netns.js';
import { isForeign } from '../support/foreign.js';

const walkthrough = path.join(repoRoot, 'examples/walkthrough');
const walkthroughNetworks = readFileSync(path.join(walkthrough, 'networks.yaml'), 'utf8');

/** The walkthrough's network with `enableIPv6: true` added (its IPv6 subnet a derived ULA /64). */
const dualStackNetworks = walkthroughNetworks.replace(/^spec:\n/m, 'spec:\n  enableIPv6: true\n');

/**
 * The seed's walkthrough with real traffic: the default bridge, a user-defined bridge network,
 * a container on both, isolation, prune and destroy. Run as written, and again with
 * `enableIPv6` added to its network: everything holds, and IPv6 works on that network.
 */
describe.each([
  { variant: 'as written', networks: walkthroughNetworks, ipv6: false },
  { variant: 'dual-stack: enableIPv6 on isolated_nw', networks: dualStackNetworks, ipv6: true },
])('seed walkthrough (bridge networks on one host), $variant', ({ networks, ipv6 }) => {
  let host: TestHost;
  let examples = walkthrough;

  beforeAll(async () => {
    host = await TestHost.create();
    if (ipv6) examples = await host.manifests({ 'networks.yaml': networks, 'containers.yaml': await readFile(path.join(walkthrough, 'containers.yaml'), 'utf8') });
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  const ping = async (from: string, to: string) => (await host.exec(from, ['ping', '-c1', '-W1', to])).code === 0;

  it('applies the walkthrough and reports every object', async () => {
    const r = await host.weft(['apply', '--detail', '-f', examples]);
    expect(r.stderr).toContain('applied and verified');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\+ bridge docker0 network bridge$/m);
    expect(r.stdout).toMatch(/^\+ bridge br-[0-9a-f]{12} network isolated_nw$/m);
    // stderr is a pipe here, not a terminal: no progress line.
    expect(r.stderr).not.toMatch(/objects|\r/);
  });

  it('containers on the default bridge ping each other by IP and see their own /etc/hosts entry', async () => {
    expect(await ping('container1', '172.17.0.3')).toBe(true);
    expect(await ping('container2', '172.17.0.2')).toBe(true);
    const hosts = await host.exec('container1', ['cat', '/etc/hosts']);
    expect(hosts.stdout).toMatch(/^172\.17\.0\.2\t[0-9a-f]{12} container1$/m);
    expect(hosts.stdout).toContain('127.0.0.1\tlocalhost');
    const ifc = await host.exec('container1', ['ip', '-j', 'addr', 'show', 'eth0']);
    expect(ifc.stdout).toContain('"address":"02:42:ac:11:00:02"');
  });

  it('isolated_nw: container3 cannot reach the default bridge; container2 reaches both sides', async () => {
    expect(await ping('container3', '172.17.0.2')).toBe(false);
    expect(await ping('container1', '172.21.0.3')).toBe(false);
    expect(await ping('container2', '172.21.0.3')).toBe(true);
    expect(await ping('container3', '172.21.0.2')).toBe(true);
    expect(await ping('container2', '172.17.0.2')).toBe(true);
    const routes = await host.exec('container2', ['ip', 'route', 'show', 'default']);
    expect(routes.stdout).toMatch(/^default via 172\.17\.0\.1 dev eth0/);
  });

  it('network inspect prints Docker\'s shape', async () => {
    const r = await host.weft(['network', 'inspect', 'isolated_nw', 'bridge']);
    expect(r.code).toBe(0);
    const [iso, br] = JSON.parse(r.stdout) as { Name: string; IPAM: { Config: { Subnet: string }[] }; Containers: Record<string, { Name: string; IPv4Address: string; MacAddress: string }> }[];
    expect(iso?.Name).toBe('isolated_nw');
    expect(iso?.IPAM.Config[0]?.Subnet).toBe('172.21.0.0/16');
    expect(Object.values(iso?.Containers ?? {}).map((c) => c.Name).sort()).toEqual(['container2', 'container3']);
    expect(Object.values(br?.Containers ?? {}).find((c) => c.Name === 'container1')).toMatchObject({ IPv4Address: '172.17.0.2/16', MacAddress: '02:42:ac:11:00:02' });
  });

  it.runIf(ipv6)('dual-stack: IPv6 on isolated_nw only, shown by network inspect; container2 and container3 talk over it', async () => {
    const r = await host.weft(['network', 'inspect', 'isolated_nw', 'bridge']);
    type Net = { EnableIPv6: boolean; IPAM: { Config: { Subnet: string; Gateway: string }[] }; Containers: Record<string, { Name: string; IPv6Address: string }> };
    const [iso, br] = JSON.parse(r.stdout) as Net[];
    expect(iso?.EnableIPv6).toBe(true);
    expect(br?.EnableIPv6).toBe(false);
    const subnet = iso?.IPAM.Config.find((c) => c.Subnet.includes(':'));
    expect(subnet?.Subnet).toMatch(/^fd[0-9a-f:]+::\/64$/);
    const v6 = (name: string) => Object.values(iso?.Containers ?? {}).find((c) => c.Name === name)?.IPv6Address.split('/')[0] ?? '';
    expect(v6('container2')).toMatch(/^fd/);
    expect(v6('container3')).toMatch(/^fd/);
    const ping6 = async (from: string, to: string) => (await host.exec(from, ['ping', '-6', '-c1', '-W1', to])).code === 0;
    expect(await ping6('container2', v6('container3'))).toBe(true);
    expect(await ping6('container3', v6('container2'))).toBe(true);
    expect(await ping6('container3', subnet?.Gateway ?? '')).toBe(true);
    // container1 is on the IPv4-only default bridge: no IPv6 address, no way to isolated_nw.
    expect(await ping6('container1', v6('container3'))).toBe(false);
    const c1 = await host.exec('container1', ['ip', '-j', '-6', 'addr', 'show', 'eth0']);
    expect(c1.stdout).not.toContain('"scope":"global"');
  });

  it('a repeated apply changes nothing: no plan lines and no kernel event', async () => {
    const monitor = host.spawn(['ip', '-n', host.name, 'monitor', 'all-nsid', 'link', 'address', 'route']);
    await new Promise((r) => setTimeout(r, 200));
    // Late events of the steps before (carrier changes the kernel reports up to a second later,
    // longer under load) are not the apply's: wait for a quiet second, then count from there.
    let seen = monitor.output().length;
    for (let quietSince = Date.now(), t0 = Date.now(); Date.now() - quietSince < 1000 && Date.now() - t0 < 15_000; ) {
      await new Promise((r) => setTimeout(r, 100));
      if (monitor.output().length !== seen) {
        seen = monitor.output().length;
        quietSince = Date.now();
      }
    }
    const r = await host.weft(['apply', '-f', examples]);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(monitor.pid, 'SIGTERM');
    await monitor.exited;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('0 kernel writes');
    // ip resolves every name under /run/netns when it starts: one deleted meanwhile by a test
    // running in parallel prints this error, which is no kernel event.
    const events = monitor.output().slice(seen).split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Error: Peer netns reference is invalid'));
    expect(events).toEqual([]);
    const plan = await host.weft(['plan', '-f', examples]);
    expect(plan.stdout).toBe('');
  });

  it('repairs an address deleted by hand', async () => {
    await run(['ip', '-n', host.netns('container3'), 'addr', 'flush', 'dev', 'eth0']);
    const plan = await host.weft(['plan', '--detail', '-f', examples]);
    expect(plan.stdout).toContain('+ address 172.21.0.3/16 on eth0');
    await host.weft(['apply', '-f', examples]);
    expect(await ping('container2', '172.21.0.3')).toBe(true);
  });

  it('removing container3 leaves an orphan until --prune', async () => {
    const text = await readFile(path.join(examples, 'containers.yaml'), 'utf8');
    const without3 = text.slice(0, text.lastIndexOf('---'));
    const dir = await host.manifests({ 'networks.yaml': networks, 'containers.yaml': without3 }, 'without3');
    const kept = await host.weft(['apply', '--detail', '-f', dir]);
    expect(kept.stdout).toContain(`! orphan netns ${host.netns('container3')} container container3`);
    expect((await run(['ip', 'netns', 'list'])).stdout).toContain(host.netns('container3'));
    const pruned = await host.weft(['apply', '--detail', '--prune', '-f', dir]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain(`- netns ${host.netns('container3')} container container3`);
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(host.netns('container3'));
    const links = await run(['ip', '-n', host.name, '-o', 'link', 'show']);
    // container1 has one endpoint, container2 two; container3's went with its namespace.
    expect(links.stdout.split('\n').filter((l) => l.includes('veth'))).toHaveLength(3);
  });

  it('destroy leaves only lo, no namespaces and no /etc/netns folders', async () => {
    const r = await host.weft(['destroy', '-f', examples]);
    expect(r.code).toBe(0);
    const links = await run(['ip', '-n', host.name, '-o', 'link', 'show']);
    expect(links.stdout.trim().split('\n').map((l) => l.split(':')[1]?.trim()).filter((n) => n !== undefined && !isForeign(n))).toEqual(['lo']);
    const nss = (await run(['ip', 'netns', 'list'])).stdout;
    expect(nss).not.toContain(`${host.name}-`);
    const etc = await run(['ls', '/etc/netns']);
    expect(etc.stdout.split('\n').filter((d) => d.startsWith(`${host.name}-`) && !isForeign(d))).toEqual([]);
  });
});
