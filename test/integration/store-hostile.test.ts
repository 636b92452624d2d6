import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkId } from '../../src/net/ids.js';
import type { DaemonProc } from '../support/daemon.js';
import { daemonStatus, http, startWatch, stopDaemon } from '../support/daemon.js';
import type { TestHost } from '../support/netns.js';
import { eventually, run, weftBin } from '../support/netns.js';
import { Underlay, endpointOn, weftOn } from '../support/underlay.js';

/**
 * Hostile endpoints written straight into etcd, as anyone with write access to the store could
 * (issue 11, findings 1 and 5). Two hosts on a 198.18.77.0/24 underlay; node-2 runs `weft watch
 * --store` (without DNS) and `weft dns --store`. Each record below was programmed (or crashed the
 * DNS server) on ac6d4e0; now each is ignored and counted, nothing reaches node-2's kernel for it,
 * both processes stay up, and a valid endpoint written beside them is programmed and resolved.
 */
describe('hostile endpoints in the membership store', () => {
  let ul: Underlay;
  let h1: TestHost;
  let h2: TestHost;
  let store = '';
  let dir = '';
  let daemon: DaemonProc | undefined;
  let dns: { pid: number; output: () => string; exited: Promise<number> } | undefined;
  const vx = `vx-${networkId('ovl').slice(0, 12)}`;
  const host = (name: string, address: string, networks?: string) => `apiVersion: weft/v1\nkind: Host\nmetadata: {name: ${name}}\nspec: {address: ${address}${networks ? `, networks: ${networks}` : ''}}\n---\n`;
  const ctr = (name: string, node: string, net: string) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec: {host: ${node}, networks: [${net}]}\n---\n`;
  const manifests = {
    // node-3 may publish on "other" only (Host.spec.networks); the others on every overlay.
    'hosts.yaml': host('node-1', '198.18.77.1') + host('node-2', '198.18.77.2') + host('node-3', '198.18.77.3', '[other]'),
    'networks.yaml':
      'apiVersion: weft/v1\nkind: Network\nmetadata: {name: ovl}\nspec: {driver: overlay, ipam: {config: [{subnet: 10.0.9.0/24}]}}\n---\n' +
      'apiVersion: weft/v1\nkind: Network\nmetadata: {name: other}\nspec: {driver: overlay, ipam: {config: [{subnet: 10.0.10.0/24}]}}\n',
    // node-3 is on "other" only.
    'containers.yaml': ctr('web1', 'node-1', 'ovl') + ctr('web2', 'node-2', 'ovl') + ctr('web3', 'node-3', 'other'),
  };
  const ep = (container: string, last: number, over: Record<string, unknown> = {}) => ({
    node: 'node-1', nodeAddress: '198.18.77.1', container, network: 'ovl', ipv4: `10.0.9.${last}/24`, mac: `02:42:0a:00:09:${last.toString(16)}`, aliases: [], ...over,
  });
  const guest = ep('guest', 50, { aliases: ['visitor'] });
  /** [what, key suffix, value, the reason it is counted under] */
  const hostile: [string, string, string, string][] = [
    ['an undeclared host', 'node-9/ovl/intruder', JSON.stringify(ep('intruder', 60, { node: 'node-9', nodeAddress: '198.18.77.9' })), 'undeclared_host'],
    ['a wrong node address', 'node-1/ovl/evil1', JSON.stringify(ep('evil1', 61, { nodeAddress: '198.18.77.66' })), 'node_address'],
    ['a network the host is not on', 'node-3/ovl/evil2', JSON.stringify(ep('evil2', 62, { node: 'node-3', nodeAddress: '198.18.77.3' })), 'network'],
    ['a command in the MAC', 'node-1/ovl/evil3', JSON.stringify(ep('evil3', 63, { mac: '02:42:0a:00:09:3f\nlink add wtinject0 type bridge' })), 'mac'],
    ['a command in the node address', 'node-1/ovl/evil4', JSON.stringify(ep('evil4', 64, { nodeAddress: '198.18.77.1\nlink add wtinject1 type bridge' })), 'node_address'],
    ['a 70-character name', `node-1/ovl/${'x'.repeat(70)}`, JSON.stringify(ep('x'.repeat(70), 65)), 'name'],
    ['an alias shadowing a container', 'node-1/ovl/evil5', JSON.stringify(ep('evil5', 66, { aliases: ['web2'] })), 'alias'],
    ['a manifest container\'s name', 'node-1/ovl/web2', JSON.stringify(ep('web2', 67)), 'name_taken'],
    ['garbage', 'node-1/ovl/garbage', '{"node": "node-1", "mac": [1, 2', 'malformed'],
  ];
  const hostileIps = hostile.map(([, , v]) => /10\.0\.9\.\d+/.exec(v)?.[0]).filter((x): x is string => x !== undefined);

  const put = (key: string, value: string) =>
    run(['ip', 'netns', 'exec', ul.sw.name, 'curl', '-sS', '-m', '5', '-X', 'POST', '-d', JSON.stringify({ key: b64(`/weft/v1/endpoints/${key}`), value: b64(value) }), `http://${ul.outside}:2379/v3/kv/put`]);
  const neigh = async () => JSON.parse((await run(['ip', '-j', '-n', h2.name, 'neigh', 'show', 'dev', vx])).stdout || '[]') as { dst: string; lladdr?: string }[];
  /** The VXLAN device's own FDB entries (the bridge's learnt ones, "master", age out by themselves). */
  const fdb = async () =>
    (JSON.parse((await run(['ip', 'netns', 'exec', h2.name, 'bridge', '-j', 'fdb', 'show', 'dev', vx])).stdout || '[]') as { mac: string; dst?: string; flags?: string[] }[]).filter((x) => x.flags?.includes('self'));
  const resolves = async (name: string, ip: string) => (await h2.exec('web2', ['getent', 'hosts', name])).stdout.includes(ip);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    ul = await Underlay.create('198.18.77');
    h1 = await ul.addHost(1);
    h2 = await ul.addHost(2);
    store = await ul.startEtcd(60);
    dir = await h1.manifests(manifests, 'shared');
    // node-1 publishes web1 (from inside its namespace, as on its own machine).
    const r1 = await weftOn(h1, ['--node', 'node-1', '--store', store, 'apply', '-f', dir]);
    if (r1.code !== 0) throw new Error(`node-1 apply failed: ${r1.stderr}`);
    daemon = startWatch(h2, ['--node', 'node-2', '--store', store, '--no-dns', '-f', dir]);
    dns = h2.spawn(['node', weftBin, '--host-netns', h2.name, '--state-dir', h2.stateDir, '--node', 'node-2', '--store', store, 'dns', '-f', dir]);
    await eventually(async () => (await daemonStatus(h2))?.ready === true, 60_000, 250);
  }, 120_000);
  afterAll(async () => {
    await stopDaemon(daemon);
    if (dns) {
      process.kill(dns.pid, 'SIGTERM');
      await dns.exited;
    }
    await ul?.cleanup();
  }, 120_000);

  it('programs the valid endpoint, ignores and counts the hostile ones, and writes nothing for them', async () => {
    for (const [, key, value] of hostile) expect((await put(key, value)).code).toBe(0);
    expect((await put('node-1/ovl/guest', JSON.stringify(guest))).code).toBe(0);
    // The valid endpoint, written after the hostile ones, is programmed on node-2.
    await eventually(async () => (await neigh()).some((n) => n.dst === '10.0.9.50' && n.lladdr === guest.mac), 30_000, 250);
    const web1 = await endpointOn(h1, 'ovl', 'web1');
    const n = await neigh();
    expect(n.map((x) => x.dst).sort()).toEqual([web1.ip, '10.0.9.50'].sort());
    for (const ip of hostileIps) expect(n.map((x) => x.dst)).not.toContain(ip);
    // VXLAN destinations: node-1 only (no intruder, no wrong address, no node-3 on ovl).
    const f = await fdb();
    expect(new Set(f.filter((x) => x.dst !== undefined).map((x) => x.dst))).toEqual(new Set(['198.18.77.1']));
    expect(f.map((x) => x.mac).sort()).toEqual(['00:00:00:00:00:00', guest.mac, web1.mac].sort());
    // No injected command ran.
    const links = JSON.parse((await run(['ip', '-j', '-n', h2.name, 'link', 'show'])).stdout) as { ifname: string }[];
    expect(links.map((l) => l.ifname).filter((l) => l.startsWith('wtinject'))).toEqual([]);
    // Counted once each, by reason.
    const m = (await http(h2, '/metrics')).body;
    const count = (reason: string) => Number(new RegExp(`^weft_store_endpoints_rejected_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(m)?.[1]);
    const expected: Record<string, number> = {};
    for (const [, , , reason] of hostile) expected[reason] = (expected[reason] ?? 0) + 1;
    for (const [reason, k] of Object.entries(expected)) expect(count(reason), reason).toBe(k);
    expect((await daemonStatus(h2))?.ready).toBe(true);
    expect(daemon!.output()).toMatch(/"msg":"store endpoint rejected"/);
  }, 90_000);

  it('weft dns stays up and answers: the valid name and alias resolve, no name is shadowed, a PTR query for a long name is harmless', async () => {
    // weft dns opens its sockets in every container namespace first: slow to start under load.
    await eventually(() => resolves('visitor', '10.0.9.50'), 60_000, 250);
    expect(await resolves('guest', '10.0.9.50')).toBe(true);
    const web2 = await endpointOn(h2, 'ovl', 'web2');
    const own = (await h2.exec('web2', ['getent', 'ahostsv4', 'web2'])).stdout;
    expect(own).toContain(web2.ip);
    for (const ip of hostileIps) expect(own).not.toContain(ip);
    expect((await h2.exec('web2', ['getent', 'hosts', 'evil5'])).code).not.toBe(0);
    // The 70-character name's address: on ac6d4e0 this PTR answer threw and the server died.
    await h2.exec('web2', ['dig', '+time=2', '+tries=1', '-x', '10.0.9.65', '@127.0.0.11']);
    await h2.exec('web2', ['dig', '+tcp', '+time=2', '+tries=1', '-x', '10.0.9.65', '@127.0.0.11']);
    expect(await resolves('visitor', '10.0.9.50')).toBe(true);
    expect(alive(dns!.pid)).toBe(true);
    expect(dns!.output()).not.toMatch(/internal error|uncaught/i);
    expect((await http(h2, '/healthz')).code).toBe(200);
  }, 90_000);
});

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}
