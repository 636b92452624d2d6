import { describe, expect, it } from 'vitest';
import type { PeerEndpoint } from '../../../src/compile/index.js';
import { compile, builtinDrivers, emptyAllocations } from '../../../src/compile/index.js';
import { silentLogger } from '../../../src/log.js';
import type { Rejection } from '../../../src/store/trust.js';
import { admitEndpoints, isHostname, isUnicastMac, storeTrust } from '../../../src/store/trust.js';
import { StoreRejections } from '../../../src/store/rejections.js';
import { FakeWorld, yaml } from '../../support/world.js';

/**
 * The membership store as a trust boundary (issue 11, findings 1 and 5): endpoints other nodes
 * publish are used only when the manifests vouch for them. Each hostile record below was
 * programmed into the kernel (or crashed the DNS server) on ac6d4e0.
 */

const hostDoc = (name: string, address: string, networks?: string) =>
  `apiVersion: weft/v1\nkind: Host\nmetadata: {name: ${name}}\nspec: {address: ${address}${networks ? `, networks: ${networks}` : ''}}\n---\n`;
// node-3 lists the overlay networks it may publish on; the others may publish on every one.
const manifests =
  hostDoc('node-1', '198.18.77.1') + hostDoc('node-2', '198.18.77.2') + hostDoc('node-3', '198.18.77.3', '[ovl]') +
  yaml.network('ovl', '{driver: overlay, ipam: {config: [{subnet: 10.0.9.0/24}]}}') +
  yaml.network('other', '{driver: overlay, ipam: {config: [{subnet: 10.0.10.0/24}]}}') +
  yaml.network('br', '{ipam: {config: [{subnet: 172.28.0.0/16}]}}') +
  yaml.container('web1', '{host: node-1, networks: {ovl: {aliases: [www]}}}') +
  yaml.container('web2', '{host: node-2, networks: [ovl, other]}') +
  yaml.container('web3', '{host: node-3, networks: [ovl]}');

const good: PeerEndpoint = { node: 'node-3', nodeAddress: '198.18.77.3', container: 'guest', network: 'ovl', ipv4: '10.0.9.9/24', mac: '02:42:0a:00:09:09', aliases: ['visitor'] };

/** Each hostile endpoint and the reason it must be rejected for. */
const hostileList: [string, PeerEndpoint, Rejection['reason']][] = [
  ['an undeclared host', { ...good, node: 'intruder', nodeAddress: '198.18.77.66', container: 'evil' }, 'undeclared_host'],
  ['a declared host with another address (a new VXLAN destination)', { ...good, nodeAddress: '198.18.77.66', container: 'evil' }, 'node_address'],
  ['injection text in the node address', { ...good, nodeAddress: '198.18.77.3\nlink del dev eth0', container: 'evil' }, 'node_address'],
  ['a network the host is not on', { ...good, network: 'other', ipv4: '10.0.10.9/24', container: 'evil' }, 'network'],
  ['a network the manifests do not have', { ...good, network: 'nope', container: 'evil' }, 'network'],
  ['a local (bridge) network', { ...good, network: 'br', ipv4: '172.28.0.9/16', container: 'evil' }, 'network'],
  ['injection text in the MAC', { ...good, mac: '02:42:0a:00:09:09\nnetns exec x touch /tmp/proof', container: 'evil' }, 'mac'],
  ['a multicast MAC', { ...good, mac: '01:00:5e:00:00:01', container: 'evil' }, 'mac'],
  ['a 64-character name', { ...good, container: 'x'.repeat(64) }, 'name'],
  ['a name with a newline', { ...good, container: 'evil\nname' }, 'name'],
  ['a name a manifest container has (on another host)', { ...good, container: 'web1' }, 'name_taken'],
  ['a name a manifest container answers to (alias)', { ...good, container: 'www' }, 'name_taken'],
  ['an alias that shadows a manifest container', { ...good, container: 'evil', aliases: ['web2'] }, 'alias'],
  ['an alias longer than a DNS label', { ...good, container: 'evil', aliases: [`${'a'.repeat(64)}.example`] }, 'alias'],
  ['an alias with a space', { ...good, container: 'evil', aliases: ['a b'] }, 'alias'],
  ['an address outside the subnet', { ...good, ipv4: '10.1.0.5/24', container: 'evil' }, 'address'],
  ['an address with another prefix', { ...good, ipv4: '10.0.9.9/8', container: 'evil' }, 'address'],
  ['the gateway address', { ...good, ipv4: '10.0.9.1/24', container: 'evil' }, 'address'],
  ['an IPv6 address as ipv4', { ...good, ipv4: '2001:db8::9/64', container: 'evil' }, 'address'],
  ['no address', { node: 'node-3', nodeAddress: '198.18.77.3', container: 'evil', network: 'ovl', mac: '02:42:0a:00:09:0a', aliases: [] }, 'address'],
];

function trust(node = 'node-1', maxPerHost?: number, extra = '') {
  const w = new FakeWorld('h1', { node });
  const model = w.model(manifests + extra);
  const { topology } = compile(model, { hostNetns: 'h1', node, allocations: emptyAllocations(), hostResolvConf: '', hostRoutes: [] }, builtinDrivers);
  return storeTrust(model, topology, maxPerHost);
}

/** Each with an address and MAC of its own, so that only the named rule can reject it. */
const hostile = hostileList.map(([what, e, reason], i): [string, PeerEndpoint, Rejection['reason']] => {
  const last = 100 + i;
  const own = { ...e };
  if (own.ipv4 === good.ipv4) own.ipv4 = `10.0.9.${last}/24`;
  if (own.mac === good.mac) own.mac = `02:42:0a:00:09:${last.toString(16)}`;
  return [what, own, reason];
});

describe('store endpoints: the manifests vouch for them or they are not used', () => {
  it('accepts a well-formed endpoint from a declared host, with its address, on a network it is on', () => {
    expect(admitEndpoints([good], trust())).toEqual({ accepted: [good], rejected: [] });
    // The owner of a manifest container publishes its address: allowed (it is that container).
    const web3: PeerEndpoint = { ...good, container: 'web3', aliases: [] };
    expect(admitEndpoints([web3], trust()).accepted).toEqual([web3]);
    // An upper-case MAC is still a MAC.
    const upper = { ...good, mac: '02:42:0A:00:09:09' };
    expect(admitEndpoints([upper], trust()).accepted).toEqual([upper]);
  });

  it('a Host without `networks` may publish on every overlay network, also one no manifest container of its is on', () => {
    // The store exists for containers outside git: node-1 has no manifest container on "other".
    const elsewhere: PeerEndpoint = { ...good, node: 'node-1', nodeAddress: '198.18.77.1', network: 'other', ipv4: '10.0.10.9/24' };
    expect(admitEndpoints([elsewhere], trust())).toEqual({ accepted: [elsewhere], rejected: [] });
    // node-3 lists [ovl]: "other" is refused for it (the hostile case below).
  });

  it.each(hostile)('rejects %s', (_what, e, reason) => {
    const r = admitEndpoints([good, e], trust());
    expect(r.accepted).toEqual([good]);
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]?.reason).toBe(reason);
    // Log fields are clipped and escaped: no raw newline reaches a log line.
    expect(JSON.stringify(r.rejected[0])).not.toMatch(/\\n/);
  });

  it('an alias that shadows another store container is rejected, the same address or MAC twice is taken once', () => {
    const other: PeerEndpoint = { ...good, container: 'other', ipv4: '10.0.9.10/24', mac: '02:42:0a:00:09:0a', aliases: [] };
    // node-4 sorts after node-3: what it publishes second loses the clash, in any store order.
    const node4 = hostDoc('node-4', '198.18.77.4') + yaml.container('web4', '{host: node-4, networks: [ovl]}');
    const from4 = { node: 'node-4', nodeAddress: '198.18.77.4', network: 'ovl' };
    const shadow: PeerEndpoint = { ...good, ...from4, container: 'shadow', ipv4: '10.0.9.9/24', mac: '02:42:0a:00:09:09', aliases: ['other'] };
    const sameIp: PeerEndpoint = { ...good, ...from4, container: 'twin', mac: '02:42:0a:00:09:0c', aliases: [] };
    const sameName: PeerEndpoint = { ...good, ...from4, container: 'guest', ipv4: '10.0.9.12/24', mac: '02:42:0a:00:09:0d' };
    const t = trust('node-1', undefined, node4);
    const r = admitEndpoints([shadow, good, other, sameIp, sameName], t);
    expect(r.accepted.map((e) => e.container).sort()).toEqual(['guest', 'other']);
    expect(Object.fromEntries(r.rejected.map((x) => [x.container, x.reason]))).toEqual({ shadow: 'alias', twin: 'address_taken', guest: 'name_taken' });
    // Which one wins does not depend on the order the store returned them in.
    const again = admitEndpoints([sameName, sameIp, shadow, other, good], t);
    expect(again.accepted.map((e) => e.node + e.container).sort()).toEqual(r.accepted.map((e) => e.node + e.container).sort());
  });

  it('takes at most a bounded number of endpoints per host', () => {
    const many = Array.from({ length: 10 }, (_, i) => ({ ...good, container: `c${i}`, ipv4: `10.0.9.${20 + i}/24`, mac: `02:42:0a:00:09:${(20 + i).toString(16)}`, aliases: [] }));
    const r = admitEndpoints(many, trust('node-1', 4));
    expect(r.accepted).toHaveLength(4);
    expect(r.rejected.map((x) => x.reason)).toEqual(Array(6).fill('limit'));
  });

  it('field rules: RFC 1123 host names and unicast MACs', () => {
    expect(isHostname('db.example-1')).toBe(true);
    for (const bad of ['', '-a', 'a-', 'a..b', 'a_b', `${'a'.repeat(64)}`, `${'a.'.repeat(127)}a`, 'ä']) expect(isHostname(bad)).toBe(false);
    expect(isUnicastMac('02:42:AC:11:00:02')).toBe(true);
    for (const bad of ['ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00', '02:42:ac:11:00', '02:42:ac:11:00:02:03', '02-42-ac-11-00-02', '02:42:ac:11:00:0g']) expect(isUnicastMac(bad)).toBe(false);
  });
});

describe('a reconcile with hostile endpoints in the store', () => {
  it('programs the valid endpoint, writes nothing for the hostile ones, reports each of them, and does not crash', async () => {
    const reported: Rejection[] = [];
    const published = [good, ...hostile.map(([, e]) => e)];
    const w = new FakeWorld('h1', { node: 'node-1', peers: { endpoints: async () => published, rejected: (r) => reported.push(r) } });
    const r = await w.apply(manifests);
    expect(r.topology.containers.get('guest')).toMatchObject({ source: 'store', hostAddress: '198.18.77.3' });
    expect(r.topology.containers.has('evil')).toBe(false);
    const h = w.kernel.ns('h1');
    // FDB: only the declared hosts' addresses; neighbours: only the manifests' containers and the guest.
    expect(new Set(h.fdb.map((f) => f.dst))).toEqual(new Set(['198.18.77.2', '198.18.77.3']));
    expect(h.fdb.map((f) => f.mac)).not.toContain('01:00:5e:00:00:01');
    const addr = (c: string) => r.topology.containers.get(c)?.endpoints[0]?.ipv4?.address;
    expect(h.neigh.map((n) => n.address).sort()).toEqual([addr('web2'), addr('web3'), '10.0.9.9'].sort());
    expect(w.takeWrites().join('\n')).not.toMatch(/proof|198\.18\.77\.66|evil|link del/);
    expect(reported.map((x) => x.reason).sort()).toEqual(hostile.map(([, , reason]) => reason).sort());
  });

  it('without a rejection sink, hostile endpoints are still dropped', async () => {
    const w = new FakeWorld('h1', { node: 'node-1', peers: { endpoints: async () => hostile.map(([, e]) => e) } });
    const r = await w.apply(manifests);
    expect([...r.topology.containers.values()].filter((c) => c.source === 'store')).toEqual([]);
  });
});

describe('StoreRejections', () => {
  it('logs and counts each distinct record once, by reason', () => {
    const lines: unknown[] = [];
    const log = { ...silentLogger, warn: (fields: unknown, msg: string) => lines.push([fields, msg]) } as unknown as typeof silentLogger;
    const sink = new StoreRejections(log);
    const r: Rejection = { reason: 'mac', detail: 'bad', node: 'node-3', network: 'ovl', container: 'evil' };
    sink.add(r);
    sink.add({ ...r });
    sink.malformed('/weft/v1/endpoints/node-3/ovl/garbage');
    expect(sink.totals()).toMatchObject({ mac: 1, malformed: 1, undeclared_host: 0 });
    expect(lines).toEqual([
      [{ reason: 'mac', detail: 'bad', node: 'node-3', network: 'ovl', container: 'evil' }, 'store endpoint rejected'],
      [{ reason: 'malformed', detail: 'not an endpoint', key: '/weft/v1/endpoints/node-3/ovl/garbage' }, 'store endpoint rejected'],
    ]);
  });
});
