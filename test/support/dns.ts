import { Packet } from 'dns2';
import type { Header, Resource } from 'dns2';
import { builtinDrivers, compile, emptyAllocations } from '../../src/compile/index.js';
import type { NetworkDriver, Topology } from '../../src/compile/index.js';
import type { SocketSource } from '../../src/dns/index.js';
import { modelFromText } from '../../src/model/index.js';

/** DNS test helpers: queries encoded and responses decoded with dns2, topologies compiled from YAML. */

export interface QueryOpts {
  id?: number;
  edns?: number;
  rd?: boolean;
}

export function query(name: string, type: number, opts: QueryOpts = {}): Buffer {
  const p = new Packet({ id: opts.id ?? 0x1234, rd: opts.rd === false ? 0 : 1 } as Partial<Header> as Header);
  p.questions.push(new Packet.Question(name, type, 1));
  if (opts.edns) p.additionals.push(new Packet.Resource({ name: '', type: 41, class: opts.edns, ttl: 0, rdata: [] } as Partial<Resource>));
  return p.toBuffer();
}

export interface Decoded {
  id: number;
  rcode: number;
  tc: boolean;
  aa: boolean;
  answers: { name: string; type: number; ttl: number; value: string }[];
  questions: { name: string; type: number }[];
  additionals: { type: number; class: number }[];
}

export function decode(msg: Buffer): Decoded {
  const p = Packet.parse(msg);
  return {
    id: p.header.id,
    rcode: p.header.rcode,
    tc: p.header.tc === 1,
    aa: p.header.aa === 1,
    questions: p.questions.map((q) => ({ name: q.name, type: q.type })),
    answers: p.answers.map((a) => {
      const r = a as unknown as { name: string; type: number; ttl: number; address?: string; domain?: string };
      return { name: r.name, type: r.type, ttl: r.ttl, value: r.address ?? r.domain ?? '' };
    }),
    additionals: p.additionals.map((a) => ({ type: a.type, class: a.class })),
  };
}

/** A global-scope driver standing in for overlay (issue 6): remote containers join the topology. */
export const fakeOverlay: NetworkDriver = { name: 'overlay', scope: 'global', hasEndpoints: true, defaultMtu: 1450 };

export function topologyOf(yaml: string, opts: { node?: string; hostNetns?: string } = {}): Topology {
  const model = modelFromText([{ file: 'test.yaml', text: yaml }]);
  const drivers = new Map([...builtinDrivers, ['overlay', fakeOverlay]]);
  return compile(
    model,
    { hostNetns: opts.hostNetns ?? 'h1', allocations: emptyAllocations(), hostResolvConf: '', hostRoutes: [], ...(opts.node ? { node: opts.node } : {}) },
    drivers,
  ).topology;
}

/**
 * A socket source for tests without namespaces: each client's sockets are bound to the address
 * its `netns` field holds (127.0.0.x), on `port`: one socket pair per client, as in production,
 * so the socket a query arrives on names the client.
 */
export function addressSockets(port: number): SocketSource {
  return {
    open: (c) => Promise.resolve({ udp: { address: c.netns, port }, tcp: { host: c.netns, port } }),
    current: () => true,
    discard: () => undefined,
    watch: () => () => undefined,
  };
}
