import { describe, expect, it } from 'vitest';
import type { NsReadRequest, NsSnapshot } from '../../../src/kernel/index.js';
import { CachingKernel, emptyProgram } from '../../../src/kernel/index.js';
import { FakeKernel } from '../../support/fake-kernel.js';
import { recordReads } from '../../support/world.js';

const host = { key: '@host', path: '/run/netns/h1' };
const c1 = { key: 'h1-c1', path: '/run/netns/h1-c1' };
const req = (ns: typeof host, sysctls: string[] = []): NsReadRequest => ({ ns, sysctls });

function setup() {
  const inner = new FakeKernel('h1');
  inner.ensureNs('h1-c1');
  const events: string[] = [];
  const k = new CachingKernel(inner, { beforeRun: () => events.push('before'), afterRun: async () => void events.push('after') });
  return { inner, k, events };
}

describe('CachingKernel', () => {
  it('serves a namespace from the cache until it is invalidated', async () => {
    const { inner, k } = setup();
    await k.readNamespaces([req(host), req(c1)]);
    expect(inner.stats.processes).toBe(2);
    await k.readNamespaces([req(host), req(c1)]);
    expect(inner.stats.processes).toBe(2);
    k.invalidate(['h1-c1']);
    await k.readNamespaces([req(host), req(c1)]);
    expect(inner.stats.processes).toBe(3);
    k.invalidate('all');
    await k.readNamespaces([req(host), req(c1)]);
    expect(inner.stats.processes).toBe(5);
    expect(k.reads).toEqual({ cached: 3, fresh: 5 });
  });

  it('a link or address event keeps the cached nftables: the next read lists no table', async () => {
    const { inner, k } = setup();
    const asked = recordReads(inner);
    const withTable: NsReadRequest = { ns: host, sysctls: [], nftTables: [{ family: 'inet', name: 'weft' }] };
    const first = (await k.readNamespaces([withTable])).get('@host')!;
    k.invalidate(['@host'], 'ip');
    const second = (await k.readNamespaces([withTable])).get('@host')!;
    expect(asked.map((r) => r.nftTables)).toEqual([[{ family: 'inet', name: 'weft' }], []]);
    expect(second.nft).toBe(first.nft);
    // An nftables event (or a write with nftables commands) forgets the tables too.
    k.invalidate(['@host']);
    await k.readNamespaces([withTable]);
    expect(asked.at(-1)?.nftTables).toEqual([{ family: 'inet', name: 'weft' }]);
  });

  it('a write without nftables commands keeps the tables of the namespaces it wrote', async () => {
    const { inner, k } = setup();
    const asked = recordReads(inner);
    const withTable: NsReadRequest = { ns: host, sysctls: [], nftTables: [{ family: 'inet', name: 'weft' }] };
    await k.readNamespaces([withTable]);
    const p = emptyProgram(host);
    p.host.ip.push({ op: 'link-set', name: 'lo', up: true, what: 'lo up' });
    await k.run(p);
    await k.readNamespaces([withTable]);
    expect(asked.at(-1)?.nftTables).toEqual([]);
    p.host.nft.push({ add: { table: { family: 'inet', name: 'weft' } } });
    await k.run(p);
    await k.readNamespaces([withTable]);
    expect(asked.at(-1)?.nftTables).toEqual([{ family: 'inet', name: 'weft' }]);
  });

  it('a different request (another sysctl) is read afresh', async () => {
    const { inner, k } = setup();
    await k.readNamespaces([req(host, ['net/ipv4/ip_forward'])]);
    await k.readNamespaces([req(host, ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding'])]);
    expect(inner.stats.processes).toBe(2);
  });

  it('does not cache a read that an invalidation overtook', async () => {
    const { inner, k } = setup();
    const slow = inner.readNamespaces.bind(inner);
    let release!: () => void;
    inner.readNamespaces = async (reqs) => {
      await new Promise<void>((r) => (release = r));
      return slow(reqs);
    };
    const reading = k.readNamespaces([req(c1)]);
    await Promise.resolve();
    k.invalidate(['h1-c1']); // an event arrived while the read was under way
    release();
    await reading;
    expect(k.cachedKeys()).toEqual([]);
  });

  it('never caches a missing namespace', async () => {
    const { k } = setup();
    const out = await k.readNamespaces([req({ key: 'gone', path: '/run/netns/gone' })]);
    expect(out.get('gone')).toBeNull();
    expect(k.cachedKeys()).toEqual([]);
  });

  it('a write forgets the namespaces it touches and calls the hooks around it', async () => {
    const { k, events } = setup();
    await k.readNamespaces([req(host), req(c1)]);
    const p = emptyProgram(host);
    p.containers.push({ ns: c1, ip: [{ op: 'link-set', name: 'lo', up: true, what: 'lo up' }], sysctls: [], nft: [] });
    await k.run(p);
    expect(k.cachedKeys()).toEqual(['@host']);
    expect(events).toEqual(['before', 'after']);
    const snap = (await k.readNamespaces([req(c1)])).get('h1-c1') as NsSnapshot;
    expect(snap.links.find((l) => l.name === 'lo')?.up).toBe(true);
  });
});
