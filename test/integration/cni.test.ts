import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult, TestHost } from '../support/netns.js';
import { eventually, run, weftBin } from '../support/netns.js';
import { Underlay } from '../support/underlay.js';
import { isForeign } from '../support/foreign.js';

/**
 * CNI plugins (Debian's containernetworking-plugins in /usr/lib/cni) as weft's `driver: cni`,
 * with real traffic: a host on an underlay segment (the switch namespace plays the outside world
 * at .254); bridge + host-local, ptp + host-local, macvlan on the host's ul0, and a chain with
 * portmap and firewall. host-local keeps its leases in the test's own folder (dataDir).
 */

const PREFIX = '198.18.77';

/** A cni network document with its plugin chain (YAML flow maps, one a line). */
const cniNetwork = (name: string, plugins: readonly string[]) => `
apiVersion: weft/v1
kind: Network
metadata: {name: ${name}}
spec:
  driver: cni
  cni:
    config:
      cniVersion: 1.0.0
      plugins:
${plugins.map((p) => `        - ${p}`).join('\n')}
`;

function networks(leases: string, bridgeSuffix: string): string {
  const ipam = (subnet: string, extra = '') => `{type: host-local, dataDir: ${leases}, ranges: [[{subnet: ${subnet}${extra}}]], routes: [{dst: 0.0.0.0/0}]}`;
  return [
    cniNetwork('br', [`{type: bridge, bridge: cb${bridgeSuffix}, isGateway: true, ipMasq: true, ipam: ${ipam('10.88.0.0/24')}}`]),
    cniNetwork('p2p', [`{type: ptp, ipMasq: true, ipam: ${ipam('10.91.0.0/24')}}`]),
    cniNetwork('mv', [`{type: macvlan, master: ul0, mode: bridge, ipam: ${ipam(`${PREFIX}.0/24`, `, rangeStart: ${PREFIX}.100, rangeEnd: ${PREFIX}.120, gateway: ${PREFIX}.254`)}}`]),
    cniNetwork('chain', [
      `{type: bridge, bridge: cc${bridgeSuffix}, isGateway: true, ipMasq: true, ipam: ${ipam('10.89.0.0/24')}}`,
      '{type: portmap, capabilities: {portMappings: true}}',
      '{type: firewall}',
    ]),
  ].join('---');
}

const container = (name: string, network: string, ports = '') => `
---
apiVersion: weft/v1
kind: Container
metadata: {name: ${name}}
spec: {networks: [${network}]${ports}}
`;

const ALL = ['a1', 'a2', 'p1', 'm1', 'm2', 'w1'] as const;
const containers = (skip: readonly string[] = []) =>
  [container('a1', 'br'), container('a2', 'br'), container('p1', 'p2p'), container('m1', 'mv'), container('m2', 'mv'), container('w1', 'chain', ', ports: ["8080:80/tcp"]')]
    .filter((_, i) => !skip.includes(ALL[i]!))
    .join('');

/** A network whose chain has a broken second plugin (PLUGIN), with one container. */
const broken = (leases: string, bridgeSuffix: string, plugin: string) =>
  cniNetwork('bad', [`{type: bridge, bridge: cx${bridgeSuffix}, ipam: {type: host-local, dataDir: ${leases}, ranges: [[{subnet: 10.92.0.0/24}]]}}`, `{type: ${plugin}}`]) + container('b1', 'bad');

const changeLines = (out: string) => out.split('\n').filter((l) => /^[+~-] /.test(l));

// Each step runs weft several times and every plugin as a process: wide margins for a loaded machine.
describe('CNI plugins as driver: cni', { timeout: 600_000 }, () => {
  let ul: Underlay;
  let h: TestHost;
  let leases: string;
  let fakeBin: string;
  let dir: string;
  let suffix: string;
  const weft = (args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> =>
    run(['node', weftBin, '--host-netns', h.name, '--state-dir', h.stateDir, ...args], { env: { ...process.env, ...env }, timeoutMs: 300_000 });
  const ping = async (from: string, to: string) => (await h.exec(from, ['ping', '-c1', '-W2', to])).code === 0;
  const addressOf = async (network: string, name: string) => {
    const [net] = JSON.parse((await weft(['network', 'inspect', network])).stdout) as { Containers: Record<string, { Name: string; IPv4Address: string }> }[];
    return Object.values(net?.Containers ?? {}).find((c) => c.Name === name)?.IPv4Address.replace(/\/\d+$/, '');
  };
  const leaseFiles = async (network: string) => (await readdir(path.join(leases, network)).catch(() => [] as string[])).filter((f) => /^\d/.test(f));
  const hostLinks = async () => (JSON.parse((await h.sh(['ip', '-j', 'link', 'show'])).stdout) as { ifname: string }[]).map((l) => l.ifname);

  beforeAll(async () => {
    ul = await Underlay.create(PREFIX);
    h = await ul.addHost(1);
    suffix = h.name.slice(-5);
    leases = path.join(h.dir, 'leases');
    fakeBin = path.join(h.dir, 'fakebin');
    await mkdir(fakeBin, { recursive: true });
    await writeFile(path.join(fakeBin, 'garbage'), '#!/bin/sh\necho "this is not json"\n');
    await writeFile(path.join(fakeBin, 'hang'), '#!/bin/sh\nexec sleep 60\n');
    for (const f of ['garbage', 'hang']) await chmod(path.join(fakeBin, f), 0o755);
    dir = await h.manifests({ 'nets.yaml': networks(leases, suffix), 'ctrs.yaml': containers() });
  }, 120_000);
  afterAll(async () => {
    await ul?.cleanup();
  }, 120_000);

  it('apply runs the plugins; a second apply writes nothing', async () => {
    const r = await weft(['apply', '-f', dir]);
    expect(r.code, r.stderr).toBe(0);
    for (const c of ALL) expect(r.stdout).toMatch(new RegExp(`^\\+ cni endpoint \\w+/${c} \\(ADD\\)$`, 'm'));
    for (const c of ALL) {
      const addrs = JSON.parse((await run(['ip', '-n', h.netns(c), '-j', 'addr', 'show', 'eth0'])).stdout) as { addr_info: { family: string; local: string }[] }[];
      expect(addrs[0]?.addr_info.some((a) => a.family === 'inet'), c).toBe(true);
    }
    const again = await weft(['apply', '-f', dir]);
    expect(again.code, again.stderr).toBe(0);
    expect(changeLines(again.stdout)).toEqual([]);
    expect(again.stderr).toMatch(/converged, nothing to change \(\d+ ms, 0 processes, 0 kernel writes\)/);
    // Debian's portmap 1.1.1 fails CHECK for IPv4-only containers with ports (plugins#819): a
    // warning, not a re-creation on every apply.
    expect(again.stdout).toMatch(/^! chain\/w1: plugin CHECK fails right after ADD/m);
  });

  it('containers reach each other and the outside namespace', async () => {
    const a2 = await addressOf('br', 'a2');
    const m2 = await addressOf('mv', 'm2');
    expect(a2).toMatch(/^10\.88\.0\.\d+$/);
    expect(m2).toMatch(/^198\.18\.77\.1\d\d$/);
    expect(await ping('a1', a2!)).toBe(true);
    expect(await ping('m1', m2!)).toBe(true);
    for (const c of ALL) expect(await ping(c, ul.outside), `${c} -> outside`).toBe(true);
  });

  it('portmap publishes the container port on the host', async () => {
    const server = h.spawn(['node', weftBin, '--host-netns', h.name, '--state-dir', h.stateDir, 'exec', 'w1', '--', 'socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo hello-from-w1']);
    expect(server.pid).toBeGreaterThan(0);
    await eventually(async () => (await run(['ip', 'netns', 'exec', ul.sw.name, 'socat', '-T2', '-', `TCP:${PREFIX}.1:8080`])).stdout.includes('hello-from-w1'), 15_000, 250);
  });

  it('network inspect shows the plugin\'s addresses', async () => {
    const [net] = JSON.parse((await weft(['network', 'inspect', 'br', '-f', dir])).stdout) as { Driver: string; IPAM: { Config: { Subnet: string }[] }; Containers: Record<string, { Name: string; IPv4Address: string }> }[];
    expect(net?.Driver).toBe('cni');
    expect(net?.IPAM.Config[0]?.Subnet).toBe('10.88.0.0/24');
    expect(Object.values(net?.Containers ?? {}).map((c) => c.Name).sort()).toEqual(['a1', 'a2']);
  });

  it('a route deleted by hand inside the container shows in plan and is repaired', async () => {
    await run(['ip', '-n', h.netns('a1'), 'route', 'del', 'default']);
    const plan = await weft(['plan', '-f', dir]);
    expect(plan.stdout).toMatch(/^~ cni endpoint br\/a1 \(DEL, ADD: route 0\.0\.0\.0\/0 is gone\)$/m);
    const r = await weft(['apply', '-f', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect((await run(['ip', '-n', h.netns('a1'), 'route', 'show', 'default'])).stdout).toMatch(/^default via 10\.88\.0\.1 dev eth0/);
    expect(changeLines((await weft(['plan', '-f', dir])).stdout)).toEqual([]);
    expect(await ping('a1', ul.outside)).toBe(true);
  });

  it('removing a container runs DEL: its host-local lease is released', async () => {
    const a2 = await addressOf('br', 'a2');
    expect(await leaseFiles('br')).toContain(a2);
    expect(await readFile(path.join(leases, 'br', a2!), 'utf8')).toMatch(/^[0-9a-f]{64}/);
    const fewer = await h.manifests({ 'nets.yaml': networks(leases, suffix), 'ctrs.yaml': containers(['a2']) }, 'fewer');
    const r = await weft(['apply', '--prune', '-f', fewer]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^- cni endpoint br\/a2 \(DEL\)$/m);
    expect(await leaseFiles('br')).not.toContain(a2);
    expect(await ping('a1', ul.outside)).toBe(true);
    // Back again: apply converges it as before.
    expect((await weft(['apply', '-f', dir])).code).toBe(0);
    expect(await ping('a1', (await addressOf('br', 'a2'))!)).toBe(true);
  });

  for (const [plugin, what] of [['nosuch', /CNI plugin "nosuch" not found/], ['garbage', /garbage ADD answered something that is not JSON/], ['hang', /hang ADD did not answer within 1500 ms/]] as const) {
    it(`a ${plugin === 'nosuch' ? 'missing' : plugin === 'garbage' ? 'garbage-answering' : 'hanging'} plugin fails its network only: exit 1 with file:line, nothing half-made`, async () => {
      const d = await h.manifests({ 'nets.yaml': networks(leases, suffix), 'ctrs.yaml': containers(), 'bad.yaml': broken(leases, suffix, plugin) }, `bad-${plugin}`);
      const r = await weft(['apply', '-f', d], { WEFT_CNI_PATH: `/usr/lib/cni:${fakeBin}`, WEFT_CNI_TIMEOUT: '1500' });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`bad\\.yaml:4:\\d+: network "bad" \\(container "b1"\\): cni plugin: ADD failed: `));
      expect(r.stderr).toMatch(what);
      // Nothing of the network is left: no interface in b1, no lease, no bridge on the host.
      expect((await run(['ip', '-n', h.netns('b1'), 'link', 'show', 'eth0'])).code).not.toBe(0);
      expect(await leaseFiles('bad')).toEqual([]);
      expect(await hostLinks()).not.toContain(`cx${suffix}`);
      // The other networks are untouched and still work.
      expect(changeLines((await weft(['plan', '-f', dir])).stdout)).toEqual([]);
      expect(await ping('a1', ul.outside)).toBe(true);
    });
  }

  it('destroy leaves nothing of weft\'s nor the bridges the plugins made', async () => {
    const all = await h.manifests({ 'nets.yaml': networks(leases, suffix), 'ctrs.yaml': containers(), 'bad.yaml': broken(leases, suffix, 'nosuch') }, 'all');
    const r = await weft(['destroy', '-f', all]);
    expect(r.code, r.stderr).toBe(0);
    for (const c of ALL) expect(r.stdout).toMatch(new RegExp(`^- cni endpoint \\w+/${c} \\(DEL\\)$`, 'm'));
    // What is left is lo, the underlay link and the foreign neighbours (test/support/foreign.ts).
    expect((await hostLinks()).filter((l) => !isForeign(l)).sort()).toEqual(['lo', 'ul0']);
    expect((await readdir('/run/netns')).filter((n) => n.startsWith(`${h.name}-`))).toEqual([]);
    for (const n of ['br', 'p2p', 'mv', 'chain']) expect(await leaseFiles(n), n).toEqual([]);
    expect(await readdir(path.join(h.stateDir, 'plugins', h.name)).catch(() => [])).toEqual([]);
  });
});
