import { describe, expect, it } from 'vitest';
import { buildDnsConfig } from '../../../src/compile/index.js';
import { RecordStore } from '../../../src/dns/index.js';
import type { Decision } from '../../../src/dns/index.js';
import { RCODE, TYPE, buildResponse, parseQuery, sizeLimit } from '../../../src/dns/wire.js';
import type { Query } from '../../../src/dns/wire.js';
import { yaml } from '../../support/world.js';
import { decode, query, topologyOf } from '../../support/dns.js';

const manifests =
  yaml.network('frontend', '{ipam: {config: [{subnet: 10.1.0.0/24}]}}') +
  yaml.network('backend', '{enableIPv6: true, ipam: {config: [{subnet: 10.2.0.0/24}, {subnet: "fd00:2::/64"}]}}') +
  yaml.container('web1', '{networks: {frontend: {aliases: [web]}, backend: {}}}') +
  yaml.container('web2', '{networks: {frontend: {aliases: [web]}}}') +
  yaml.container('db', '{networks: {backend: {aliases: [database]}}, dns: {servers: [198.18.0.1]}}') +
  yaml.container('api', '{networks: {backend: {links: ["db:sql"]}}}') +
  yaml.container('plain');

function store(text = manifests, hostResolv = 'nameserver 127.0.0.53\nnameserver 198.51.100.1\n') {
  const topology = topologyOf(text);
  const config = buildDnsConfig(topology, hostResolv);
  const addr = (ctr: string, net: string) => topology.containers.get(ctr)?.endpoints.find((e) => e.network === net)?.ipv4?.address ?? '';
  const addr6 = (ctr: string, net: string) => topology.containers.get(ctr)?.endpoints.find((e) => e.network === net)?.ipv6?.address ?? '';
  return { s: new RecordStore(config), config, topology, addr, addr6 };
}

/** A query from container `from` (the socket it arrived on names it). */
function ask(s: RecordStore, from: string, name: string, type: number) {
  const msg = query(name, type);
  const q = parseQuery(msg) as Query;
  const d: Decision = s.decide(from, q);
  if (d.kind !== 'answer') return { decision: d };
  return { decision: d, response: decode(buildResponse(msg, q, d.rcode, d.records, d.count, sizeLimit(q, false))) };
}

describe('DNS record store', () => {
  it('answers container names, case-insensitively, with TTL 600 and the question as asked', () => {
    const { s, addr } = store();
    const r = ask(s, 'web2', 'WeB1', TYPE.A);
    expect(r.response?.rcode).toBe(RCODE.NOERROR);
    expect(r.response?.questions[0]?.name).toBe('WeB1');
    expect(r.response?.answers).toEqual([{ name: 'WeB1', type: TYPE.A, ttl: 600, value: addr('web1', 'frontend') }]);
  });

  it('answers the 12-hex short id of a container', () => {
    const { s, addr, topology } = store();
    const id = topology.containers.get('web2')!.container.id.slice(0, 12);
    const r = ask(s, 'web1', id, TYPE.A);
    expect(r.response?.answers.map((a) => a.value)).toEqual([addr('web2', 'frontend')]);
  });

  it('an alias on several containers returns all their addresses, rotated between answers', () => {
    const { s, addr } = store();
    const both = [addr('web1', 'frontend'), addr('web2', 'frontend')];
    const first = ask(s, 'web2', 'web', TYPE.A).response?.answers.map((a) => a.value);
    const second = ask(s, 'web2', 'web', TYPE.A).response?.answers.map((a) => a.value);
    const third = ask(s, 'web2', 'web', TYPE.A).response?.answers.map((a) => a.value);
    expect(first).toEqual(both);
    expect(second).toEqual([...both].reverse());
    expect(third).toEqual(both);
  });

  it('scopes names to the networks the asking container is on', () => {
    const { s, addr } = store();
    // web2 is on frontend only: db (backend) is not its to know, so the name goes upstream.
    expect(ask(s, 'web2', 'db', TYPE.A).decision).toEqual({ kind: 'forward', upstreams: ['127.0.0.53', '198.51.100.1'] });
    // web1 is on both: it sees db, and asks from either of its addresses.
    expect(ask(s, 'web1', 'database', TYPE.A).response?.answers.map((a) => a.value)).toEqual([addr('db', 'backend')]);
    expect(ask(s, 'web1', 'web2', TYPE.A).response?.answers.map((a) => a.value)).toEqual([addr('web2', 'frontend')]);
  });

  it('tells NODATA from NXDOMAIN, and answers <name>.<network>', () => {
    const { s, addr, addr6 } = store();
    const nodata = ask(s, 'web2', 'web1', TYPE.AAAA).response;
    expect(nodata).toMatchObject({ rcode: RCODE.NOERROR, answers: [] });
    expect(ask(s, 'web2', 'web1', TYPE.MX).response).toMatchObject({ rcode: RCODE.NOERROR, answers: [] });
    expect(ask(s, 'web2', 'nosuch.frontend', TYPE.A).response).toMatchObject({ rcode: RCODE.NXDOMAIN, answers: [] });
    expect(ask(s, 'web2', 'web1.frontend', TYPE.A).response?.answers.map((a) => a.value)).toEqual([addr('web1', 'frontend')]);
    // backend has IPv6: AAAA answers there.
    expect(ask(s, 'api', 'db', TYPE.AAAA).response?.answers).toEqual([{ name: 'db', type: TYPE.AAAA, ttl: 600, value: addr6('db', 'backend') }]);
  });

  it('answers PTR for container addresses in scope as <container>.<network>', () => {
    const { s, addr, addr6 } = store();
    const rev = (ip: string) => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
    const r = ask(s, 'web2', rev(addr('web1', 'frontend')), TYPE.PTR);
    expect(r.response?.answers).toEqual([{ name: rev(addr('web1', 'frontend')), type: TYPE.PTR, ttl: 600, value: 'web1.frontend' }]);
    // Out of scope: forwarded like any name weft does not own.
    expect(ask(s, 'web2', rev(addr('db', 'backend')), TYPE.PTR).decision.kind).toBe('forward');
    expect(addr6('db', 'backend')).toBe('fd00:2::3');
    const ptr6 = ask(s, 'api', `${[...'fd000002000000000000000000000003'].reverse().join('.')}.IP6.ARPA`, TYPE.PTR);
    expect(ptr6.response?.answers.map((a) => a.value)).toEqual(['db.backend']);
  });

  it('legacy link aliases resolve for the linking container only', () => {
    const { s, addr } = store();
    expect(ask(s, 'api', 'sql', TYPE.A).response?.answers.map((a) => a.value)).toEqual([addr('db', 'backend')]);
    expect(ask(s, 'web1', 'sql', TYPE.A).decision.kind).toBe('forward');
  });

  it('forwards to dns.servers when set, refuses strangers and default-bridge-only containers', () => {
    const { s, config } = store();
    expect(ask(s, 'db', 'example.com', TYPE.A).decision).toEqual({ kind: 'forward', upstreams: ['198.18.0.1'] });
    expect(ask(s, 'stranger', 'web1', TYPE.A).decision).toEqual({ kind: 'refuse' });
    expect(config.clients.map((c) => c.container).sort()).toEqual(['api', 'db', 'web1', 'web2']);
  });

  it('names the namespace of each client container (its sockets are made there)', () => {
    const { config } = store();
    expect(config.clients.map((c) => [c.container, c.netns]).sort()).toEqual([
      ['api', '/run/netns/h1-api'],
      ['db', '/run/netns/h1-db'],
      ['web1', '/run/netns/h1-web1'],
      ['web2', '/run/netns/h1-web2'],
    ]);
  });

  it('includes remote containers on global networks; only local ones are clients', () => {
    const text =
      yaml.network('ov', '{driver: overlay, ipam: {config: [{subnet: 10.9.0.0/24}]}}') +
      'apiVersion: weft/v1\nkind: Host\nmetadata: {name: node-a}\nspec: {address: 192.168.77.1}\n---\n' +
      'apiVersion: weft/v1\nkind: Host\nmetadata: {name: node-b}\nspec: {address: 192.168.77.2}\n---\n' +
      yaml.container('a1', '{host: node-a, networks: [ov]}') +
      yaml.container('b1', '{host: node-b, networks: [ov]}');
    const topology = topologyOf(text, { node: 'node-a' });
    const config = buildDnsConfig(topology, '');
    // Overlay addresses are spread by name (the same on every host): read them from the topology.
    const ov = (c: string) => topology.containers.get(c)?.endpoints.find((e) => e.network === 'ov')?.ipv4?.address;
    expect(config.networks.find((n) => n.name === 'ov')?.entries.map((e) => [e.container, e.ipv4])).toEqual([
      ['a1', ov('a1')],
      ['b1', ov('b1')],
    ]);
    expect(ov('b1')).toMatch(/^10\.9\.0\./);
    expect(config.clients.map((c) => c.container)).toEqual(['a1']);
    const s = new RecordStore(config);
    expect(ask(s, 'a1', 'b1', TYPE.A).response?.answers.map((a) => a.value)).toEqual([ov('b1')]);
  });
});
