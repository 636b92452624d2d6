import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestPlugin } from '../support/docker-plugin.js';
import { run, TestHost } from '../support/netns.js';

/**
 * A Docker remote network driver (the suite's test plugin, test/support/docker-plugin.mjs, running
 * inside the test host's namespace) as a weft driver, with real traffic: the plugin makes a bridge
 * per network and a veth pair per endpoint; weft moves the plugin's end into the container.
 */

const manifests = (extra = '') => ({
  'net.yaml': `apiVersion: weft/v1
kind: Network
metadata: {name: pnet}
spec:
  driver: wtest
  ipam: {config: [{subnet: 10.77.0.0/24, gateway: 10.77.0.1}]}
  options: {vendor.flavour: mint}
---
apiVersion: weft/v1
kind: Network
metadata: {name: bnet}
spec:
  ipam: {config: [{subnet: 10.78.0.0/24, gateway: 10.78.0.1}]}
`,
  'ctr.yaml': `apiVersion: weft/v1
kind: Container
metadata: {name: c1}
spec: {networks: [pnet]}
---
apiVersion: weft/v1
kind: Container
metadata: {name: c2}
spec: {networks: {pnet: {ipv4Address: 10.77.0.20}}}
---
apiVersion: weft/v1
kind: Container
metadata: {name: c3}
spec: {networks: [bnet]}
${extra}`,
});

interface Inspect {
  Name: string;
  Driver: string;
  Containers: Record<string, { Name: string; IPv4Address: string; MacAddress: string }>;
}

describe('Docker remote network driver', () => {
  let h: TestHost;
  let plugin: TestPlugin | undefined;
  let env: NodeJS.ProcessEnv;
  let sockets: string;

  const startPlugin = async (args: string[] = []) => {
    plugin = await TestPlugin.start({ socket: path.join(sockets, 'wtest.sock'), log: path.join(h.dir, 'calls.log'), state: path.join(h.dir, 'plugin-state.json'), netns: h.name, args });
    return plugin;
  };
  /** Applies (which must succeed) and returns every call the plugin got so far. */
  const applied = async (p: TestPlugin, dir: string) => {
    const r = await h.weft(['apply', '-f', dir], { env });
    expect(r.code, r.stderr).toBe(0);
    return p.calls();
  };
  const ping = async (from: string, to: string) => (await h.exec(from, ['ping', '-c1', '-W2', to])).code === 0;
  const links = async (ns: string) => (JSON.parse((await run(['ip', '-n', ns, '-j', 'link', 'show'])).stdout || '[]') as { ifname: string }[]).map((l) => l.ifname).sort();
  const records = async () => (await readdir(path.join(h.stateDir, 'plugins'), { recursive: true }).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));

  beforeEach(async () => {
    h = await TestHost.create('wdp');
    sockets = path.join(h.dir, 'plugins');
    await mkdir(sockets);
    env = { WEFT_DOCKER_PLUGIN_DIRS: sockets, WEFT_DOCKER_PLUGIN_TIMEOUT: '1500' };
  });
  afterEach(async () => {
    await plugin?.stop();
    plugin = undefined;
    await h?.cleanup();
  });

  it('apply makes working endpoints; inspect shows them; a second apply calls nothing; destroy undoes it all', { timeout: 150_000 }, async () => {
    const p = await startPlugin();
    const dir = await h.manifests(manifests());
    const calls = await applied(p, dir);
    expect(calls.map((c) => c.call)).toEqual([
      'Plugin.Activate',
      'NetworkDriver.GetCapabilities',
      'NetworkDriver.CreateNetwork',
      'NetworkDriver.CreateEndpoint',
      'NetworkDriver.Join',
      'NetworkDriver.CreateEndpoint',
      'NetworkDriver.Join',
    ]);
    // Options pass through as Docker passes --opt; weft's IPAM gives the pool and the addresses.
    const create = calls[2]!.body;
    expect(create['Options']).toMatchObject({ 'com.docker.network.generic': { 'vendor.flavour': 'mint' } });
    expect(create['IPv4Data']).toEqual([{ AddressSpace: '', Pool: '10.77.0.0/24', Gateway: '10.77.0.1/24' }]);
    expect((calls[5]!.body['Interface'] as Record<string, string>)['Address']).toBe('10.77.0.20/24');
    expect(calls[4]!.body['SandboxKey']).toBe(`/run/netns/${h.netns('c1')}`);

    // The plugin's interface is in the container, renamed DstPrefix+index, with its address and routes.
    expect(await links(h.netns('c1'))).toEqual(['eth0', 'lo']);
    const addr = await h.exec('c2', ['ip', '-4', '-o', 'addr', 'show', 'eth0']);
    expect(addr.stdout).toContain('10.77.0.20/24');
    const routes = (await h.exec('c1', ['ip', 'route'])).stdout;
    expect(routes).toMatch(/^default via 10\.77\.0\.1 dev eth0/m);
    expect(routes).toMatch(/^198\.51\.100\.0\/24 dev eth0/m);
    expect(await ping('c1', '10.77.0.20')).toBe(true);
    expect(await ping('c2', '10.77.0.1')).toBe(true);
    expect(await ping('c3', '10.78.0.1')).toBe(true);

    const inspect = JSON.parse((await h.weft(['network', 'inspect', 'pnet'], { env })).stdout) as Inspect[];
    expect(inspect[0]!.Driver).toBe('wtest');
    expect(Object.values(inspect[0]!.Containers).map((c) => [c.Name, c.IPv4Address]).sort()).toEqual([
      ['c1', '10.77.0.2/24'],
      ['c2', '10.77.0.20/24'],
    ]);

    const before = calls.length;
    const plan = await h.weft(['plan', '-f', dir], { env });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toBe('');
    const again = await h.weft(['apply', '-f', dir], { env });
    expect(again.code, again.stderr).toBe(0);
    expect((await p.calls()).length).toBe(before);

    const d = await h.weft(['destroy', '-f', dir], { env });
    expect(d.code, d.stderr).toBe(0);
    const after = (await p.callNames()).slice(before);
    expect(after.filter((c) => c === 'NetworkDriver.Leave')).toHaveLength(2);
    expect(after.filter((c) => c === 'NetworkDriver.DeleteEndpoint')).toHaveLength(2);
    expect(after.at(-1)).toBe('NetworkDriver.DeleteNetwork');
    const hostLinks = await links(h.name);
    expect(hostLinks.filter((l) => l.startsWith('tp'))).toEqual([]);
    expect(await records()).toEqual([]);
  });

  it('a stopped plugin: apply exits 1 with the network\'s place, the rest converges, nothing half-made; back: the next apply converges', { timeout: 150_000 }, async () => {
    const dir = await h.manifests(manifests());
    const r = await h.weft(['apply', '-f', dir], { env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/net\.yaml:3:\d+: .*pnet.*plugin "wtest": find: not found/);
    expect(await ping('c3', '10.78.0.1')).toBe(true);
    expect(await links(h.netns('c1'))).toEqual(['lo']);
    expect(await records()).toEqual([]);

    const p = await startPlugin();
    const ok = await h.weft(['apply', '-f', dir], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await ping('c1', '10.77.0.20')).toBe(true);
    expect((await p.callNames()).filter((c) => c === 'NetworkDriver.Join')).toHaveLength(2);

    // Stopped again: destroy keeps what it could not undo, says so, and finishes once it is back.
    await p.stop();
    const d = await h.weft(['destroy', '-f', dir], { env });
    expect(d.code).toBe(1);
    expect(d.stderr).toContain('pnet');
    await startPlugin();
    const d2 = await h.weft(['destroy', '-f', dir], { env });
    expect(d2.code, d2.stderr).toBe(0);
    expect(await records()).toEqual([]);
  });

  it.each([
    [['--garbage', 'NetworkDriver.Join'], 'answer is not JSON'],
    [['--hang', 'NetworkDriver.Join'], 'no answer within 1500 ms'],
    [['--bad', 'NetworkDriver.Join'], 'bad answer'],
    [['--fail', 'NetworkDriver.CreateEndpoint'], 'test plugin refuses NetworkDriver.CreateEndpoint'],
  ])('a plugin with %j: exit 1 with the network\'s place, nothing half-made, other networks fine, then it converges', { timeout: 150_000 }, async (args, says) => {
    const dir = await h.manifests(manifests());
    const p = await startPlugin(args);
    const started = Date.now();
    const r = await h.weft(['apply', '-f', dir], { env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/net\.yaml:3:\d+: .*pnet/);
    expect(r.stderr).toContain(says);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(await links(h.netns('c1'))).toEqual(['lo']);
    expect(await links(h.netns('c2'))).toEqual(['lo']);
    expect(await ping('c3', '10.78.0.1')).toBe(true);
    // What the plugin made for an endpoint that failed was undone through the plugin itself.
    const names = await p.callNames();
    if (args[0] !== '--fail') expect(names).toContain('NetworkDriver.DeleteEndpoint');
    expect((await links(h.name)).filter((l) => l.startsWith('tpc'))).toEqual([]);
    await p.stop();
    await startPlugin();
    const ok = await h.weft(['apply', '-f', dir], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await ping('c1', '10.77.0.20')).toBe(true);
  });

  it('removing a container from the manifests undoes its endpoint with --prune; drift inside the container is repaired', { timeout: 150_000 }, async () => {
    const p = await startPlugin();
    const dir = await h.manifests(manifests());
    expect((await h.weft(['apply', '-f', dir], { env })).code).toBe(0);
    // Drift: the address removed by hand shows in plan and the next apply repairs it.
    await run(['ip', '-n', h.netns('c2'), 'addr', 'flush', 'dev', 'eth0']);
    const plan = await h.weft(['plan', '-f', dir], { env });
    expect(plan.stdout).toMatch(/^~ .*pnet\/c2/m);
    expect((await h.weft(['apply', '-f', dir], { env })).code).toBe(0);
    expect(await ping('c1', '10.77.0.20')).toBe(true);

    const fewer = manifests();
    fewer['ctr.yaml'] = fewer['ctr.yaml'].replace(/---\napiVersion: weft\/v1\nkind: Container\nmetadata: \{name: c2\}\nspec: .*\n/, '');
    const dir2 = await h.manifests(fewer, 'fewer');
    const before = (await p.calls()).length;
    expect((await h.weft(['apply', '--prune', '-f', dir2], { env })).code).toBe(0);
    const names = (await p.callNames()).slice(before);
    expect(names).toEqual(['Plugin.Activate', 'NetworkDriver.Leave', 'NetworkDriver.DeleteEndpoint']);
    expect(await ping('c1', '10.77.0.1')).toBe(true);
  });

  it('a network that names an IPAM plugin gets its pool, gateway and addresses from it, and gives them back', { timeout: 150_000 }, async () => {
    const p = await startPlugin();
    const dir = await h.manifests({
      'ipam.yaml': `apiVersion: weft/v1
kind: Network
metadata: {name: inet}
spec:
  driver: wtest
  ipam: {driver: wtest}
---
apiVersion: weft/v1
kind: Container
metadata: {name: i1}
spec: {networks: [inet]}
`,
    });
    const calls = await applied(p, dir);
    expect(calls.map((c) => c.call)).toEqual([
      'Plugin.Activate',
      'NetworkDriver.GetCapabilities',
      'IpamDriver.GetDefaultAddressSpaces',
      'IpamDriver.RequestPool',
      'IpamDriver.RequestAddress',
      'NetworkDriver.CreateNetwork',
      'IpamDriver.RequestAddress',
      'NetworkDriver.CreateEndpoint',
      'NetworkDriver.Join',
    ]);
    expect(calls[5]!.body['IPv4Data']).toEqual([{ AddressSpace: '', Pool: '10.231.0.0/24', Gateway: '10.231.0.2/24' }]);
    expect((calls[7]!.body['Interface'] as Record<string, string>)['Address']).toBe('10.231.0.3/24');
    expect((await h.exec('i1', ['ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout).toContain('10.231.0.3/24');
    expect(await ping('i1', '10.231.0.2')).toBe(true);
    const inspect = JSON.parse((await h.weft(['network', 'inspect', 'inet', '-f', dir], { env })).stdout) as Inspect[];
    expect(Object.values(inspect[0]!.Containers).map((c) => c.IPv4Address)).toEqual(['10.231.0.3/24']);

    const again = await h.weft(['apply', '-f', dir], { env });
    expect(again.code, again.stderr).toBe(0);
    expect((await p.calls()).length).toBe(calls.length);

    expect((await h.weft(['destroy', '-f', dir], { env })).code).toBe(0);
    expect((await p.callNames()).slice(calls.length)).toEqual([
      'Plugin.Activate',
      'NetworkDriver.Leave',
      'NetworkDriver.DeleteEndpoint',
      'IpamDriver.ReleaseAddress',
      'NetworkDriver.DeleteNetwork',
      'IpamDriver.ReleasePool',
    ]);
  });
});
