import type { KAddr, KFdb, KLink, KNeigh, KRoute } from '../types.js';
import { formatIp, formatMac } from './addresses.js';
import type { NlMessage } from './rtnl-codec.js';
import { cString, parseAttrs, s32, u32, u8 } from './rtnl-codec.js';
import { AF, IFLA, NL, RTA } from './rtnl-constants.js';

/**
 * Dump replies decoded into the snapshot types ip-parse.ts makes of `ip -d -j` and `bridge -j`
 * (iproute2 6.1), field for field, so providers and the diff see no difference. Pure.
 */

const ADDR_GEN_MODES = ['eui64', 'none', 'stable_secret', 'random'];
const MACVLAN_MODES: Record<number, string> = { 1: 'private', 2: 'vepa', 4: 'bridge', 8: 'passthru', 16: 'source' };
// iproute2's names (lib/rt_names.c and /etc/iproute2): numbers it has no name for print as numbers.
const PROTOCOLS: Record<number, string> = { 0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra', 12: 'bird', 13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp', 18: 'keepalived', 42: 'babel', 99: 'openr', 186: 'bgp', 187: 'isis', 188: 'ospf', 189: 'rip', 192: 'eigrp' };
const TABLES: Record<number, string> = { 0: 'unspec', 253: 'default', 254: 'main', 255: 'local' };
const SCOPES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };
const ROUTE_TYPES = ['unspec', 'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve'];
const NUD_NAMES: [number, string][] = [
  [RTA.NUD_INCOMPLETE, 'INCOMPLETE'],
  [RTA.NUD_REACHABLE, 'REACHABLE'],
  [RTA.NUD_STALE, 'STALE'],
  [RTA.NUD_DELAY, 'DELAY'],
  [RTA.NUD_PROBE, 'PROBE'],
  [RTA.NUD_FAILED, 'FAILED'],
  [RTA.NUD_NOARP, 'NOARP'],
  [RTA.NUD_PERMANENT, 'PERMANENT'],
];

const named = (table: Record<number, string>, n: number) => table[n] ?? String(n);

/** Decodes RTM_NEWLINK messages; masters are named from the same dump. */
export function decodeLinks(msgs: readonly NlMessage[]): KLink[] {
  const raw = msgs.filter((m) => m.type === NL.RTM_NEWLINK && m.body.length >= 16).map((m) => ({ index: m.body.readInt32LE(4), flags: m.body.readUInt32LE(8), a: parseAttrs(m.body, 16) }));
  const names = new Map(raw.map((l) => [l.index, cString(l.a.get(IFLA.IFLA_IFNAME) ?? Buffer.alloc(0))]));
  return raw.map(({ index, flags, a }) => {
    const link: KLink = {
      ifindex: index,
      name: names.get(index) ?? '',
      mtu: u32(a.get(IFLA.IFLA_MTU)) ?? 0,
      mac: a.has(IFLA.IFLA_ADDRESS) ? formatMac(a.get(IFLA.IFLA_ADDRESS)!) : '',
      up: (flags & NL.IFF_UP) !== 0,
    };
    const info = a.get(IFLA.IFLA_LINKINFO);
    const li = info ? parseAttrs(info) : undefined;
    const kind = li?.get(IFLA.IFLA_INFO_KIND);
    if (kind) link.kind = cString(kind);
    const alias = a.get(IFLA.IFLA_IFALIAS);
    if (alias && cString(alias) !== '') link.alias = cString(alias);
    const master = u32(a.get(IFLA.IFLA_MASTER));
    if (master) link.master = names.get(master) ?? `if${master}`;
    // ip names a peer by index only when it lives in another namespace (IFLA_LINK_NETNSID).
    const peer = s32(a.get(IFLA.IFLA_LINK));
    const nsid = s32(a.get(IFLA.IFLA_LINK_NETNSID));
    if (peer && nsid !== undefined) {
      link.linkIndex = peer;
      link.linkNetnsId = nsid;
    }
    const mode = addrGenMode(a.get(IFLA.IFLA_AF_SPEC));
    if (mode !== undefined) link.addrgenmode = mode;
    const data = li?.get(IFLA.IFLA_INFO_DATA);
    if (data && link.kind) {
      const d = infoData(link.kind, parseAttrs(data), names);
      if (d) link.info = d;
    }
    const slaveKind = li?.get(IFLA.IFLA_INFO_SLAVE_KIND);
    const slaveData = li?.get(IFLA.IFLA_INFO_SLAVE_DATA);
    if (slaveKind && slaveData && cString(slaveKind) === 'bridge') {
      const hairpin = u8(parseAttrs(slaveData).get(IFLA.IFLA_BRPORT_MODE));
      if (hairpin !== undefined) link.slaveInfo = { hairpin: hairpin !== 0 };
    }
    return link;
  });
}

function addrGenMode(spec: Buffer | undefined): string | undefined {
  const inet6 = spec ? parseAttrs(spec).get(AF.AF_INET6) : undefined;
  const mode = inet6 ? u8(parseAttrs(inet6).get(IFLA.IFLA_INET6_ADDR_GEN_MODE)) : undefined;
  return mode === undefined ? undefined : (ADDR_GEN_MODES[mode] ?? String(mode));
}

/** The info_data fields weft reads (vxlan, macvlan, vlan), as `ip -d -j` names and types them. */
function infoData(kind: string, d: Map<number, Buffer>, names: Map<number, string>): Record<string, unknown> | undefined {
  if (kind === 'vxlan') {
    const out: Record<string, unknown> = {};
    const id = u32(d.get(IFLA.IFLA_VXLAN_ID));
    if (id !== undefined) out['id'] = id;
    const local = d.get(IFLA.IFLA_VXLAN_LOCAL) ?? d.get(IFLA.IFLA_VXLAN_LOCAL6);
    if (local) out['local'] = formatIp(local);
    const link = u32(d.get(IFLA.IFLA_VXLAN_LINK));
    if (link) out['link'] = names.get(link) ?? `if${link}`;
    const port = d.get(IFLA.IFLA_VXLAN_PORT);
    if (port && port.length >= 2) out['port'] = port.readUInt16BE(0);
    const learning = u8(d.get(IFLA.IFLA_VXLAN_LEARNING));
    if (learning !== undefined) out['learning'] = learning !== 0;
    if (u8(d.get(IFLA.IFLA_VXLAN_PROXY))) out['proxy'] = true;
    return out;
  }
  if (kind === 'macvlan') {
    const mode = u32(d.get(IFLA.IFLA_MACVLAN_MODE));
    return mode === undefined ? undefined : { mode: MACVLAN_MODES[mode] ?? String(mode) };
  }
  if (kind === 'vlan') {
    const id = d.get(IFLA.IFLA_VLAN_ID);
    return id && id.length >= 2 ? { id: id.readUInt16LE(0) } : undefined;
  }
  return undefined;
}

/** Decodes RTM_NEWADDR messages, in the order of `links` (as `ip addr show` lists them). */
export function decodeAddresses(msgs: readonly NlMessage[], links: readonly KLink[]): KAddr[] {
  const byIndex = new Map<number, KAddr[]>();
  for (const m of msgs) {
    if (m.type !== NL.RTM_NEWADDR || m.body.length < 8) continue;
    const fam = m.body.readUInt8(0);
    if (fam !== AF.AF_INET && fam !== AF.AF_INET6) continue;
    const index = m.body.readUInt32LE(4);
    const a = parseAttrs(m.body, 8);
    const local = a.get(RTA.IFA_LOCAL) ?? a.get(RTA.IFA_ADDRESS);
    if (!local) continue;
    const list = byIndex.get(index) ?? [];
    const addr: KAddr = { dev: '', family: fam === AF.AF_INET ? 4 : 6, local: formatIp(local), prefixlen: m.body.readUInt8(1), scope: named(SCOPES, m.body.readUInt8(3)) };
    // IFA_FLAGS holds all 32 bits; the 8-bit field of older kernels is the fallback (as ip reads them).
    if ((u32(a.get(RTA.IFA_FLAGS)) ?? m.body.readUInt8(2)) & RTA.IFA_F_NODAD) addr.nodad = true;
    list.push(addr);
    byIndex.set(index, list);
  }
  // ip addr show groups by link: IPv4 addresses of a link, then its IPv6 ones.
  return links.flatMap((l) => {
    const list = byIndex.get(l.ifindex) ?? [];
    return [...list.filter((x) => x.family === 4), ...list.filter((x) => x.family === 6)].map((x) => ({ ...x, dev: l.name }));
  });
}

/** Decodes RTM_NEWROUTE messages as `ip route show table all` lists them (no cloned routes). */
export function decodeRoutes(msgs: readonly NlMessage[], links: readonly KLink[]): KRoute[] {
  const names = new Map(links.map((l) => [l.ifindex, l.name]));
  const out: KRoute[] = [];
  for (const m of msgs) {
    if (m.type !== NL.RTM_NEWROUTE || m.body.length < 12) continue;
    const b = m.body;
    const fam = b.readUInt8(0);
    if (fam !== AF.AF_INET && fam !== AF.AF_INET6) continue;
    if (b.readUInt32LE(8) & NL.RTM_F_CLONED) continue;
    const dstLen = b.readUInt8(1);
    const a = parseAttrs(b, 12);
    const host = fam === AF.AF_INET ? 32 : 128;
    const dstAttr = a.get(RTA.RTA_DST);
    const dst = dstAttr ? (dstLen === host ? formatIp(dstAttr) : `${formatIp(dstAttr)}/${dstLen}`) : dstLen ? `0/${dstLen}` : 'default';
    const table = u32(a.get(RTA.RTA_TABLE)) ?? b.readUInt8(4);
    const route: KRoute = { family: fam === AF.AF_INET ? 4 : 6, dst, protocol: named(PROTOCOLS, b.readUInt8(5)), table: named(TABLES, table), type: ROUTE_TYPES[b.readUInt8(7)] ?? String(b.readUInt8(7)) };
    const gw = a.get(RTA.RTA_GATEWAY);
    if (gw) route.gateway = formatIp(gw);
    const oif = u32(a.get(RTA.RTA_OIF));
    if (oif !== undefined) route.dev = names.get(oif) ?? `if${oif}`;
    out.push(route);
  }
  return out;
}

/** Decodes RTM_NEWNEIGH messages as `ip neigh show` lists them (no NOARP, proxy or NONE entries). */
export function decodeNeighbours(msgs: readonly NlMessage[], links: readonly KLink[]): KNeigh[] {
  const names = new Map(links.map((l) => [l.ifindex, l.name]));
  const out: KNeigh[] = [];
  const shown = 0xff & ~RTA.NUD_NOARP;
  for (const m of msgs) {
    if (m.type !== NL.RTM_NEWNEIGH || m.body.length < 12) continue;
    const b = m.body;
    const fam = b.readUInt8(0);
    if (fam !== AF.AF_INET && fam !== AF.AF_INET6) continue;
    const state = b.readUInt16LE(8);
    const flags = b.readUInt8(10);
    if (!(state & shown) && !(flags & RTA.NTF_PROXY) && !(flags & RTA.NTF_EXT_LEARNED)) continue;
    const a = parseAttrs(b, 12);
    const dst = a.get(RTA.NDA_DST);
    if (!dst) continue;
    const n: KNeigh = { dev: names.get(b.readInt32LE(4)) ?? '', address: formatIp(dst), state: NUD_NAMES.filter(([bit]) => state & bit).map(([, s]) => s) };
    const ll = a.get(RTA.NDA_LLADDR);
    if (ll) n.lladdr = formatMac(ll);
    const proto = u8(a.get(RTA.NDA_PROTOCOL));
    if (proto !== undefined) n.protocol = named(PROTOCOLS, proto);
    out.push(n);
  }
  return out;
}

/** Decodes AF_BRIDGE RTM_NEWNEIGH messages of the VXLAN devices, as `bridge -j fdb show dev X` does. */
export function decodeFdb(msgs: readonly NlMessage[], links: readonly KLink[]): KFdb[] {
  const vxlans = new Map(links.filter((l) => l.kind === 'vxlan').map((l) => [l.ifindex, l.name]));
  const out: KFdb[] = [];
  for (const m of msgs) {
    if (m.type !== NL.RTM_NEWNEIGH || m.body.length < 12 || m.body.readUInt8(0) !== AF.AF_BRIDGE) continue;
    const dev = vxlans.get(m.body.readInt32LE(4));
    if (dev === undefined) continue;
    const a = parseAttrs(m.body, 12);
    const mac = a.get(RTA.NDA_LLADDR);
    if (!mac) continue;
    const state = m.body.readUInt16LE(8);
    const flags = m.body.readUInt8(10);
    const f: KFdb = { dev, mac: formatMac(mac), flags: FDB_FLAGS.filter(([bit]) => flags & bit).map(([, s]) => s) };
    const dst = a.get(RTA.NDA_DST);
    if (dst) f.dst = formatIp(dst);
    if (state) f.state = fdbState(state);
    out.push(f);
  }
  return out;
}

const FDB_FLAGS: [number, string][] = [
  [RTA.NTF_SELF, 'self'],
  [RTA.NTF_ROUTER, 'router'],
  [RTA.NTF_EXT_LEARNED, 'extern_learn'],
  [RTA.NTF_OFFLOADED, 'offload'],
  [RTA.NTF_MASTER, 'master'],
  [RTA.NTF_STICKY, 'sticky'],
];

function fdbState(s: number): string {
  if (s & RTA.NUD_PERMANENT) return 'permanent';
  if (s & RTA.NUD_NOARP) return 'static';
  if (s & RTA.NUD_STALE) return 'stale';
  if (s & RTA.NUD_REACHABLE) return '';
  return `0x${s.toString(16)}`;
}
