import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as KernelModule from '../../src/kernel/index.js';
import type { Kernel, KFdb, KLink, NsSnapshot } from '../../src/kernel/index.js';
import { parseAddresses, parseLinks, parseRoutes } from '../../src/kernel/index.js';
import { parseFdb, parseNeighbours, splitJsonLines } from '../../src/kernel/ip-parse.js';
import { silentLogger } from '../../src/log.js';
import { TestHost, eventually, must, repoRoot, run } from '../support/netns.js';

// (This machine's kernel has no 8021q: VLAN devices are decoded like macvlans, by IFLA_INFO_DATA.)
/**
 * The in-process reader (rtnetlink + libnftables, dist/) against iproute2 and nft: a namespace
 * populated by hand with every kind of object weft reads must give the same snapshot as `ip -d -j`,
 * `bridge -j fdb`, `nft -j list table` and /proc/sys, read independently.
 */

/** The info_data / info_slave_data fields weft reads (providers/links.ts); ip prints many more. */
const INFO_KEYS: Record<string, string[]> = { vxlan: ['id', 'local', 'port', 'learning', 'proxy'], macvlan: ['mode'], vlan: ['id'] };

function comparable(l: KLink): KLink {
  const out: KLink = { ...l };
  delete out.info;
  delete out.slaveInfo;
  const keys = INFO_KEYS[l.kind ?? ''];
  if (keys && l.info) out.info = Object.fromEntries(keys.filter((k) => k in l.info!).map((k) => [k, l.info![k]]));
  if (l.slaveInfo && 'hairpin' in l.slaveInfo) out.slaveInfo = { hairpin: l.slaveInfo['hairpin'] };
  return out;
}

const byJson = <T>(xs: readonly T[]) => [...xs].map((x) => JSON.stringify(x)).sort();

describe('in-process kernel reads what iproute2 reads', () => {
  let host: TestHost;
  let kernel: Kernel & { close(): Promise<void> };
  const ctr = () => `${host.name}-c1`;

  beforeAll(async () => {
    host = await TestHost.create('wk');
    const mod = (await import(pathToFileURL(path.join(repoRoot, 'dist/kernel/index.js')).href)) as typeof KernelModule;
    kernel = new mod.InProcessKernel({ log: silentLogger });
    const h = host.name;
    const ip = (...a: string[]) => must(['ip', '-n', h, ...a]);
    await must(['ip', 'netns', 'add', ctr()]);
    await ip('link', 'add', 'br-t', 'mtu', '1400', 'type', 'bridge');
    await ip('link', 'set', 'br-t', 'alias', 'weft:test "quoted" alias', 'up');
    await ip('link', 'add', 'vt1', 'mtu', '1400', 'master', 'br-t', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctr(), 'address', '02:42:0a:00:00:02');
    await ip('link', 'set', 'vt1', 'addrgenmode', 'none', 'up', 'type', 'bridge_slave', 'hairpin', 'on');
    await ip('link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1');
    await ip('addr', 'add', '198.18.0.1/24', 'dev', 'ul0');
    await ip('link', 'set', 'ul0', 'up');
    await ip('link', 'add', 'vx-t', 'mtu', '1450', 'type', 'vxlan', 'id', '4097', 'dstport', '4789', 'local', '198.18.0.1', 'nolearning', 'proxy');
    await ip('link', 'set', 'vx-t', 'master', 'br-t', 'up');
    await ip('link', 'add', 'mv0', 'link', 'ul1', 'address', '02:42:0a:00:00:09', 'mtu', '1500', 'netns', ctr(), 'type', 'macvlan', 'mode', 'private');
    await must(['bridge', '-n', h, 'fdb', 'append', '02:42:0a:00:00:03', 'dev', 'vx-t', 'dst', '198.18.0.2', 'self', 'permanent']);
    await must(['bridge', '-n', h, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx-t', 'dst', '198.18.0.3', 'self', 'permanent']);
    await ip('neigh', 'replace', '10.0.0.3', 'lladdr', '02:42:0a:00:00:03', 'dev', 'vx-t', 'nud', 'permanent', 'proto', '250');
    await ip('neigh', 'replace', '2001:db8::3', 'lladdr', '02:42:0a:00:00:04', 'dev', 'ul0', 'nud', 'permanent');
    await ip('addr', 'add', '10.0.0.1/24', 'dev', 'br-t');
    await ip('addr', 'add', '2001:db8:0:1::1/64', 'dev', 'br-t');
    await ip('route', 'replace', '10.9.0.0/16', 'via', '198.18.0.2', 'dev', 'ul0', 'proto', '250');
    await ip('route', 'replace', '10.8.0.5', 'dev', 'ul0', 'proto', 'static');
    await ip('-6', 'route', 'replace', '2001:db8:9::/48', 'via', '2001:db8:0:1::2', 'dev', 'br-t', 'proto', '250');
    await ip('-6', 'route', 'replace', '::/0', 'via', '2001:db8:0:1::fe', 'dev', 'br-t');
    await must(['ip', 'netns', 'exec', h, 'nft', '-f', '-'], { input: 'table inet weft_t {\n chain filter_fw {\n  type filter hook forward priority 0; policy accept;\n  iifname "br-t" oifname "ul0" accept comment "weft:x"\n }\n}\n' });
    await must(['ip', '-n', ctr(), 'addr', 'add', '10.0.0.2/24', 'dev', 'eth0']);
    await must(['ip', '-n', ctr(), 'link', 'set', 'eth0', 'up']);
    await must(['ip', '-n', ctr(), 'route', 'replace', 'default', 'via', '10.0.0.1', 'dev', 'eth0', 'proto', '250']);
  });
  afterAll(async () => {
    await kernel?.close();
    await host?.cleanup();
  });

  async function viaIproute(ns: string): Promise<NsSnapshot> {
    const [links, addrs, routes, neigh] = splitJsonLines(await must(['ip', '-n', ns, '-d', '-j', '-batch', '-'], { input: 'link show\naddr show\nroute show table all\nneigh show\n' }));
    const parsedLinks = parseLinks(links);
    const fdb: KFdb[] = [];
    for (const l of parsedLinks.filter((x) => x.kind === 'vxlan')) fdb.push(...parseFdb(l.name, JSON.parse(await must(['bridge', '-n', ns, '-j', 'fdb', 'show', 'dev', l.name]))));
    return { links: parsedLinks, addresses: parseAddresses(addrs), routes: parseRoutes(routes), neighbours: parseNeighbours(neigh), fdb, sysctls: {}, nft: {} };
  }

  it.each(['host', 'container'])('%s namespace: links, addresses, routes, neighbours and fdb entries equal ip -d -j and bridge -j', async (which) => {
    const ns = which === 'host' ? host.name : ctr();
    const ours = (await kernel.readNamespaces([{ ns: { key: ns, path: `/run/netns/${ns}` }, sysctls: [], neighbours: true, fdb: true }])).get(ns);
    const theirs = await viaIproute(ns);
    expect(ours).toBeTruthy();
    expect(byJson(ours!.links.map(comparable))).toEqual(byJson(theirs.links.map(comparable)));
    expect(ours!.addresses).toEqual(theirs.addresses);
    expect(byJson(ours!.routes)).toEqual(byJson(theirs.routes));
    expect(byJson(ours!.neighbours ?? [])).toEqual(byJson(theirs.neighbours ?? []));
    expect(byJson(ours!.fdb ?? [])).toEqual(byJson(theirs.fdb ?? []));
    // The test is not vacuous: the objects made above are there.
    if (which === 'host') {
      expect(ours!.links.map((l) => l.kind).filter(Boolean).sort()).toEqual(expect.arrayContaining(['bridge', 'veth', 'vxlan']));
      expect(ours!.fdb?.length).toBeGreaterThanOrEqual(2);
      expect(ours!.neighbours?.some((n) => n.protocol === '250')).toBe(true);
      expect(ours!.links.find((l) => l.name === 'br-t')?.alias).toBe('weft:test "quoted" alias');
    } else {
      expect(ours!.links.find((l) => l.name === 'mv0')?.info).toEqual({ mode: 'private' });
    }
  });

  it('sysctls equal /proc/sys inside the namespace, nftables tables equal nft -j list table, a missing table is null', async () => {
    const ns = host.name;
    await must(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const paths = ['net/ipv4/ip_forward', 'net/ipv4/conf/br-t/forwarding', 'net/ipv4/conf/nope0/forwarding'];
    const ours = (await kernel.readNamespaces([{ ns: { key: ns, path: `/run/netns/${ns}` }, sysctls: paths, nftTables: [{ family: 'inet', name: 'weft_t' }, { family: 'ip', name: 'weft_none' }] }])).get(ns)!;
    const cat = async (p: string) => (await must(['ip', 'netns', 'exec', ns, 'cat', `/proc/sys/${p}`])).trim();
    expect(ours.sysctls).toEqual({ [paths[0]!]: await cat(paths[0]!), [paths[1]!]: await cat(paths[1]!), [paths[2]!]: null });
    expect(ours.sysctls[paths[0]!]).toBe('1');
    const nft = (JSON.parse(await must(['ip', 'netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', 'weft_t'])) as { nftables: object[] }).nftables.filter((o) => !('metainfo' in o));
    expect(ours.nft['inet weft_t']).toEqual(nft);
    expect(nft.length).toBe(3);
    expect(ours.nft['ip weft_none']).toBeNull();
  });

  it('a namespace it has read, deleted by another process, is destroyed (its handles do not keep it alive)', async () => {
    const gone = `${host.name}-gone`;
    await must(['ip', 'netns', 'add', gone]);
    await must(['ip', '-n', host.name, 'link', 'add', 'vgone', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', gone]);
    // Reading with a table opens both an rtnetlink socket and a libnftables context inside it.
    const snap = (await kernel.readNamespaces([{ ns: { key: gone, path: `/run/netns/${gone}` }, sysctls: [], nftTables: [{ family: 'inet', name: 'weft' }] }])).get(gone);
    expect(snap?.links.map((l) => l.name)).toContain('eth0');
    await must(['ip', 'netns', 'del', gone]);
    // The kernel destroys a namespace nobody holds, and with it both ends of the veth.
    await eventually(async () => !(await must(['ip', '-n', host.name, '-o', 'link', 'show'])).includes('vgone'), 8000);
  });

  it('deleting what is already gone is done; other failures still fail', async () => {
    const mod = (await import(pathToFileURL(path.join(repoRoot, 'dist/kernel/index.js')).href)) as typeof KernelModule;
    const ns = { key: '@host', path: `/run/netns/${host.name}` };
    const p = mod.emptyProgram(ns);
    p.host.ip.push(
      { op: 'link-del', name: 'gone0', what: 'deleting link gone0' },
      { op: 'addr-del', dev: 'br-t', cidr: '10.9.9.9/24', what: 'removing an address' },
      { op: 'addr-del', dev: 'gone0', cidr: '10.9.9.9/24', what: 'removing an address of a gone link' },
      { op: 'route-del', family: 4, dst: '10.99.0.0/16', dev: 'br-t', proto: 250, what: 'removing a route' },
      { op: 'neigh-del', dev: 'vx-t', address: '10.0.0.99', what: 'removing a neighbour' },
    );
    p.host.fdb = [{ op: 'fdb-del', dev: 'vx-t', mac: '02:42:0a:00:00:99', dst: '198.18.0.9', what: 'removing a forwarding entry' }];
    await kernel.run(p);
    const q = mod.emptyProgram(ns);
    q.host.ip.push({ op: 'addr-add', dev: 'gone0', cidr: '10.9.9.9/24', what: 'adding an address to a gone link' });
    await expect(kernel.run(q)).rejects.toThrow(/gone0/);
  });

  it('a read that finds none of the tables it lists keeps no nftables context (no socket left per namespace)', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `${host.name}-nt${i}`);
    for (const n of names) await must(['ip', 'netns', 'add', n]);
    try {
      const fds = async () => (await readdir('/proc/self/fd')).length;
      const refs = names.map((n) => ({ key: n, path: `/run/netns/${n}` }));
      // Without tables first: each namespace's rtnetlink socket is opened (and kept) here.
      await kernel.readNamespaces(refs.map((ns) => ({ ns, sysctls: [] })));
      const before = await fds();
      const snaps = await kernel.readNamespaces(refs.map((ns) => ({ ns, sysctls: [], nftTables: [{ family: 'ip', name: 'weft_dns' }] })));
      expect([...snaps.values()].every((x) => x?.nft['ip weft_dns'] === null)).toBe(true);
      expect(await fds()).toBeLessThan(before + 3);
    } finally {
      for (const n of names) await run(['ip', 'netns', 'del', n]);
    }
  });

  it('a namespace that does not exist reads as null', async () => {
    const key = `${host.name}-absent`;
    expect((await kernel.readNamespaces([{ ns: { key, path: `/run/netns/${key}` }, sysctls: [] }])).get(key)).toBeNull();
  });
});
