import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AnswerError, DockerPlugin, DockerPluginError, findPlugin, parseSpec, PLUGIN_CONTENT_TYPE, readJoin } from '../../../src/plugins/docker/index.js';
import type { PluginDirs } from '../../../src/plugins/docker/index.js';
import { dockerOptionsFromEnv } from '../../../src/plugins/docker/options.js';
import { TestPlugin } from '../../support/docker-plugin.js';

// The client against the suite's test plugin (test/support/docker-plugin.mjs) in --no-kernel
// mode: real HTTP over a real unix socket, no links, no root.

let dir: string;
let dirs: PluginDirs;
const plugins: TestPlugin[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'weft-dplug-'));
  dirs = { sockets: [dir], specs: [dir] };
});
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startPlugin(name: string, args: string[] = [], socket = path.join(dir, `${name}.sock`)): Promise<TestPlugin> {
  const p = await TestPlugin.start({ socket, log: path.join(dir, `${name}.log`), state: path.join(dir, `${name}.state`), args: ['--no-kernel', ...args] });
  plugins.push(p);
  return p;
}

async function failure(p: Promise<unknown>): Promise<DockerPluginError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DockerPluginError);
  return e as DockerPluginError;
}

const NID = 'a'.repeat(64);
const EID = 'b'.repeat(64);

describe('plugin discovery', { timeout: 30_000 }, () => {
  it('finds NAME.sock, then NAME/NAME.sock, in the socket folders', async () => {
    await startPlugin('tp1');
    expect(await findPlugin('tp1', dirs)).toEqual({ kind: 'unix', path: path.join(dir, 'tp1.sock') });
    await mkdir(path.join(dir, 'tp2'));
    await startPlugin('tp2', [], path.join(dir, 'tp2', 'tp2.sock'));
    expect(await findPlugin('tp2', dirs)).toEqual({ kind: 'unix', path: path.join(dir, 'tp2', 'tp2.sock') });
  });

  it('reads NAME.spec and NAME.json files', async () => {
    await writeFile(path.join(dir, 's1.spec'), 'unix:///run/s1/plugin.sock\n');
    await writeFile(path.join(dir, 's2.spec'), 'tcp://127.0.0.1:7777');
    await writeFile(path.join(dir, 's3.json'), JSON.stringify({ Name: 's3', Addr: 'tcp://[::1]:8080' }));
    expect(await findPlugin('s1', dirs)).toEqual({ kind: 'unix', path: '/run/s1/plugin.sock' });
    expect(await findPlugin('s2', dirs)).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 7777 });
    expect(await findPlugin('s3', dirs)).toEqual({ kind: 'tcp', host: '::1', port: 8080 });
  });

  it('refuses names that are paths, and says where it looked for a missing plugin', async () => {
    for (const name of ['../etc/passwd', 'a/b', '..', '', 'UPPER', 'a..b']) {
      const e = await failure(findPlugin(name, dirs));
      expect(e.message).toContain('not a plugin name');
    }
    const e = await failure(findPlugin('nothere', dirs));
    expect(e.message).toContain(path.join(dir, 'nothere.sock'));
    expect(e.message).toContain('WEFT_DOCKER_PLUGIN_DIRS');
    expect(e.reachable).toBe(false);
  });

  it('refuses unusable spec files with the file name', async () => {
    expect(() => parseSpec('x', '/p/x.spec', 'https://host:1')).toThrow(/\/p\/x.spec: address "https:\/\/host:1" is not unix:\/\/ or tcp:\/\//);
    expect(() => parseSpec('x', '/p/x.json', '{"Addr": 5}')).toThrow(/no "Addr" string/);
    expect(() => parseSpec('x', '/p/x.json', 'not json')).toThrow(/not JSON/);
    expect(() => parseSpec('x', '/p/x.json', '{"Addr":"tcp://h:1","TLSConfig":{"CAFile":"/x"}}')).toThrow(/TLS plugins are not supported/);
    expect(() => parseSpec('x', '/p/x.spec', 'tcp://h:70000')).toThrow(/not unix/);
    await writeFile(path.join(dir, 'big.spec'), 'x'.repeat(70_000));
    expect((await failure(findPlugin('big', dirs))).message).toMatch(/spec file of 70000 bytes/);
  });
});

describe('the Docker plugin client', { timeout: 60_000 }, () => {
  it('activates once, sends Docker\'s content type, and makes every NetworkDriver call', async () => {
    const tp = await startPlugin('net1');
    const c = new DockerPlugin('net1', { dirs });
    expect(await c.getCapabilities()).toEqual({ Scope: 'local', ConnectivityScope: 'local' });
    const gen = { 'com.docker.network.generic': { 'vendor.opt': 'v' } };
    await c.createNetwork({ NetworkID: NID, Options: gen, IPv4Data: [{ AddressSpace: '', Pool: '10.9.0.0/24', Gateway: '10.9.0.1/24' }], IPv6Data: [] });
    expect(await c.createEndpoint({ NetworkID: NID, EndpointID: EID, Options: {}, Interface: { Address: '10.9.0.2/24', MacAddress: '02:42:0a:09:00:02' } })).toBeUndefined();
    const join = await c.join({ NetworkID: NID, EndpointID: EID, SandboxKey: '/run/netns/x', Options: {} });
    expect(join).toEqual({
      InterfaceName: { SrcName: `tpc${EID.slice(0, 8)}`, DstPrefix: 'eth' },
      Gateway: '10.9.0.1',
      StaticRoutes: [{ Destination: '198.51.100.0/24', RouteType: 1 }],
      DisableGatewayService: false,
    });
    expect(await c.endpointOperInfo(NID, EID)).toEqual({ hostVeth: `tph${EID.slice(0, 8)}` });
    expect(await c.discoverNew(1, { Address: '198.18.0.1', self: true })).toBe(false); // 404: not implemented
    await c.leave(NID, EID);
    await c.deleteEndpoint(NID, EID);
    await c.deleteNetwork(NID);
    const calls = await tp.calls();
    expect(calls.map((x) => x.call)).toEqual([
      'Plugin.Activate',
      'NetworkDriver.GetCapabilities',
      'NetworkDriver.CreateNetwork',
      'NetworkDriver.CreateEndpoint',
      'NetworkDriver.Join',
      'NetworkDriver.EndpointOperInfo',
      'NetworkDriver.DiscoverNew',
      'NetworkDriver.Leave',
      'NetworkDriver.DeleteEndpoint',
      'NetworkDriver.DeleteNetwork',
    ]);
    expect(new Set(calls.map((x) => x.contentType))).toEqual(new Set([PLUGIN_CONTENT_TYPE]));
    expect(calls[2]!.body['Options']).toEqual(gen);
    expect(c.activations).toBe(1);
  });

  it('makes the IpamDriver calls', async () => {
    const tp = await startPlugin('ipam1');
    const c = new DockerPlugin('ipam1', { dirs });
    expect(await c.getDefaultAddressSpaces()).toEqual({ LocalDefaultAddressSpace: 'tplocal', GlobalDefaultAddressSpace: 'tpglobal' });
    const pool = await c.requestPool({ AddressSpace: 'tplocal', Pool: '', SubPool: '', Options: {}, V6: false });
    expect(pool).toEqual({ PoolID: 'tp-tplocal-10.231.0.0/24', Pool: '10.231.0.0/24', Data: {} });
    expect(await c.requestAddress({ PoolID: pool.PoolID, Address: '', Options: {} })).toBe('10.231.0.2/24');
    expect(await c.requestAddress({ PoolID: pool.PoolID, Address: '10.231.0.9', Options: {} })).toBe('10.231.0.9/24');
    await c.releaseAddress(pool.PoolID, '10.231.0.2');
    expect(await c.requestAddress({ PoolID: pool.PoolID, Address: '', Options: {} })).toBe('10.231.0.2/24');
    await c.releasePool(pool.PoolID);
    expect(await tp.callNames()).toEqual([
      'Plugin.Activate',
      'IpamDriver.GetDefaultAddressSpaces',
      'IpamDriver.RequestPool',
      'IpamDriver.RequestAddress',
      'IpamDriver.RequestAddress',
      'IpamDriver.ReleaseAddress',
      'IpamDriver.RequestAddress',
      'IpamDriver.ReleasePool',
    ]);
  });

  it('refuses a plugin that does not implement the interface', async () => {
    await startPlugin('vol1', ['--implements', 'VolumeDriver']);
    const e = await failure(new DockerPlugin('vol1', { dirs }).getCapabilities());
    expect(e.message).toBe('plugin "vol1": Plugin.Activate: implements ["VolumeDriver"], not NetworkDriver; use a NetworkDriver plugin');
    await startPlugin('net2', ['--implements', 'NetworkDriver']);
    expect((await failure(new DockerPlugin('net2', { dirs }).getDefaultAddressSpaces())).message).toContain('not IpamDriver');
  });

  it('turns an Err answer into an error carrying the plugin\'s words', async () => {
    await startPlugin('err1', ['--fail', 'NetworkDriver.CreateNetwork']);
    const e = await failure(new DockerPlugin('err1', { dirs }).createNetwork({ NetworkID: NID, Options: {}, IPv4Data: [], IPv6Data: [] }));
    expect(e.message).toBe('plugin "err1": NetworkDriver.CreateNetwork: test plugin refuses NetworkDriver.CreateNetwork');
    expect(e.reachable).toBe(true);
  });

  it('refuses garbage, wrong types and oversized answers without crashing', async () => {
    await startPlugin('g1', ['--garbage', 'all']);
    const g = await failure(new DockerPlugin('g1', { dirs }).getCapabilities());
    expect(g.message).toMatch(/^plugin "g1": Plugin.Activate: answer is not JSON: "<html>Internal gremlins<\/html>"$/);

    await startPlugin('b1', ['--bad', 'Plugin.Activate']);
    expect((await failure(new DockerPlugin('b1', { dirs }).getCapabilities())).message).toBe('plugin "b1": Plugin.Activate: bad answer: "Implements" is not a list of names');

    await startPlugin('b2', ['--bad', 'NetworkDriver.Join,NetworkDriver.CreateEndpoint,NetworkDriver.GetCapabilities']);
    const b2 = new DockerPlugin('b2', { dirs });
    expect((await failure(b2.getCapabilities())).message).toContain('"Scope" "everywhere" is neither "local" nor "global"');
    await b2.createNetwork({ NetworkID: NID, Options: {}, IPv4Data: [], IPv6Data: [] });
    expect((await failure(b2.createEndpoint({ NetworkID: NID, EndpointID: EID, Options: {}, Interface: {} }))).message).toContain('"Interface.Address" "not-an-address" is not an IPv4 CIDR');
    expect((await failure(b2.join({ NetworkID: NID, EndpointID: EID, SandboxKey: '', Options: {} }))).message).toContain('"SrcName" is not a string');

    await startPlugin('h1', ['--huge', 'NetworkDriver.EndpointOperInfo']);
    expect((await failure(new DockerPlugin('h1', { dirs, maxAnswerBytes: 64 * 1024 }).endpointOperInfo(NID, EID))).message).toContain('answer larger than 65536 bytes');
  });

  it('gives up on a plugin that hangs after the timeout', async () => {
    await startPlugin('hang1', ['--hang', 'NetworkDriver.Join']);
    const c = new DockerPlugin('hang1', { dirs, timeoutMs: 300 });
    await c.createNetwork({ NetworkID: NID, Options: {}, IPv4Data: [], IPv6Data: [] });
    const started = Date.now();
    const e = await failure(c.join({ NetworkID: NID, EndpointID: EID, SandboxKey: '', Options: {} }));
    expect(e.message).toBe('plugin "hang1": NetworkDriver.Join: no answer within 300 ms');
    expect(e.reachable).toBe(false);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('says a stopped plugin cannot be reached, and activates it again once it is back', async () => {
    const first = await startPlugin('rs1');
    const c = new DockerPlugin('rs1', { dirs });
    await c.createNetwork({ NetworkID: NID, Options: {}, IPv4Data: [], IPv6Data: [] });
    await first.stop();
    const e = await failure(c.deleteNetwork(NID));
    expect(e.reachable).toBe(false);
    expect(e.message).toMatch(/^plugin "rs1": (find: not found|NetworkDriver.DeleteNetwork: cannot reach)/);
    const second = await startPlugin('rs1');
    await c.deleteNetwork(NID);
    expect(c.activations).toBe(2);
    expect(await second.callNames()).toEqual(['Plugin.Activate', 'NetworkDriver.CreateNetwork', 'Plugin.Activate', 'NetworkDriver.DeleteNetwork']);
  });

  it('survives a plugin that dies in the middle of a call', async () => {
    await startPlugin('die1', ['--exit-on', 'NetworkDriver.CreateNetwork']);
    const e = await failure(new DockerPlugin('die1', { dirs }).createNetwork({ NetworkID: NID, Options: {}, IPv4Data: [], IPv6Data: [] }));
    expect(e.reachable).toBe(false);
    expect(e.message).toMatch(/cannot reach .*die1.sock|answer cut off/);
  });

  it('takes what the driver chose, and refuses an answer that changes what weft gave', async () => {
    await startPlugin('chg1', ['--choose-mac', '02:00:00:00:00:07']);
    const c = new DockerPlugin('chg1', { dirs });
    await c.createNetwork({ NetworkID: NID, Options: {}, IPv4Data: [], IPv6Data: [] });
    expect(await c.createEndpoint({ NetworkID: NID, EndpointID: EID, Options: {}, Interface: { Address: '10.9.0.2/24' } })).toEqual({ MacAddress: '02:00:00:00:00:07' });
    const e = await failure(c.createEndpoint({ NetworkID: NID, EndpointID: EID, Options: {}, Interface: { MacAddress: '02:42:0a:09:00:02' } }));
    expect(e.message).toBe('plugin "chg1": NetworkDriver.CreateEndpoint: answered MacAddress 02:00:00:00:00:07 where weft gave 02:42:0a:09:00:02');
  });
});

describe('Docker plugin options from the environment', () => {
  it('adds absolute folders before Docker\'s and takes a timeout in milliseconds', () => {
    const o = dockerOptionsFromEnv({ WEFT_DOCKER_PLUGIN_DIRS: '/a:/b', WEFT_DOCKER_PLUGIN_TIMEOUT: '1500' });
    expect(o.dirs.sockets).toEqual(['/a', '/b', '/run/docker/plugins']);
    expect(o.dirs.specs).toEqual(['/a', '/b', '/etc/docker/plugins', '/usr/lib/docker/plugins']);
    expect(o.timeoutMs).toBe(1500);
    expect(dockerOptionsFromEnv({}).timeoutMs).toBe(30_000);
  });

  it('refuses relative folders and timeouts that are not a number of milliseconds', () => {
    expect(() => dockerOptionsFromEnv({ WEFT_DOCKER_PLUGIN_DIRS: '/a:plugins' })).toThrow(/"plugins" is not an absolute path/);
    for (const t of ['0', '-5', '1.5', 'soon', '9999999']) expect(() => dockerOptionsFromEnv({ WEFT_DOCKER_PLUGIN_TIMEOUT: t })).toThrow(/WEFT_DOCKER_PLUGIN_TIMEOUT/);
  });
});

describe('answers are checked field by field before anything reaches the kernel', () => {
  const join = (over: Record<string, unknown>, names: Record<string, unknown> = {}) => ({ InterfaceName: { SrcName: 'tpc1', DstPrefix: 'eth', ...names }, ...over });

  it('accepts Docker\'s shapes', () => {
    expect(readJoin(join({ Gateway: '10.0.0.1', StaticRoutes: [{ Destination: '10.1.0.0/16', RouteType: 0, NextHop: '10.0.0.254' }, { Destination: '2001:db8::/64', RouteType: 1 }] }))).toMatchObject({
      StaticRoutes: [{ Destination: '10.1.0.0/16', RouteType: 0, NextHop: '10.0.0.254' }, { Destination: '2001:db8::/64', RouteType: 1 }],
    });
  });

  it.each([
    [join({}, { SrcName: 'eth0 up' }), 'SrcName'],
    [join({}, { SrcName: '../../x' }), 'SrcName'],
    [join({}, { SrcName: 'a'.repeat(16) }), 'SrcName'],
    [join({}, { DstPrefix: 'eth\nlink del lo' }), 'DstPrefix'],
    [join({}, { DstPrefix: 'averylongprefix' }), 'DstPrefix'],
    [join({ Gateway: '10.0.0.1 dev lo' }), 'Gateway'],
    [join({ GatewayIPv6: '10.0.0.1' }), 'GatewayIPv6'],
    [join({ StaticRoutes: [{ Destination: '10.1.0.0/16', RouteType: 2 }] }), 'RouteType'],
    [join({ StaticRoutes: [{ Destination: '10.1.0.0/16', RouteType: 0 }] }), 'NextHop'],
    [join({ StaticRoutes: [{ Destination: '10.1.0.0/16', RouteType: 0, NextHop: '2001:db8::1' }] }), 'NextHop'],
    [join({ StaticRoutes: Array.from({ length: 300 }, () => ({ Destination: '10.1.0.0/16', RouteType: 1 })) }), 'StaticRoutes'],
    [join({ DisableGatewayService: 'yes' }), 'DisableGatewayService'],
    [{ InterfaceName: null }, 'InterfaceName'],
    [[], 'the answer'],
  ])('refuses Join answer %# (%s)', (answer, field) => {
    expect(() => readJoin(answer)).toThrow(AnswerError);
    expect(() => readJoin(answer)).toThrow(field);
  });
});
