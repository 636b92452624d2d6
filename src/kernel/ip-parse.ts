import type { KAddr, KFdb, KLink, KNeigh, KRoute } from './types.js';

/** Parsers for `ip -j` output (iproute2 6.1). Pure; unknown fields are ignored. */

interface RawLink {
  ifindex: number;
  ifname: string;
  ifalias?: string;
  flags?: string[];
  mtu: number;
  address?: string;
  master?: string;
  link_index?: number;
  link_netnsid?: number;
  inet6_addr_gen_mode?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: Record<string, unknown> };
  addr_info?: RawAddrInfo[];
}

interface RawAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  nodad?: boolean;
}

interface RawRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  table?: string;
}

export function parseLinks(raw: unknown): KLink[] {
  return (raw as RawLink[]).map((l) => {
    const link: KLink = {
      ifindex: l.ifindex,
      name: l.ifname,
      mtu: l.mtu,
      mac: l.address ?? '',
      up: (l.flags ?? []).includes('UP'),
    };
    if (l.linkinfo?.info_kind) link.kind = l.linkinfo.info_kind;
    if (l.ifalias) link.alias = l.ifalias;
    if (l.master) link.master = l.master;
    if (l.link_index !== undefined) link.linkIndex = l.link_index;
    if (l.link_netnsid !== undefined) link.linkNetnsId = l.link_netnsid;
    if (l.inet6_addr_gen_mode) link.addrgenmode = l.inet6_addr_gen_mode;
    if (l.linkinfo?.info_data) link.info = l.linkinfo.info_data;
    if (l.linkinfo?.info_slave_data) link.slaveInfo = l.linkinfo.info_slave_data;
    return link;
  });
}

export function parseAddresses(raw: unknown): KAddr[] {
  const out: KAddr[] = [];
  for (const l of raw as RawLink[]) {
    for (const a of l.addr_info ?? []) {
      if (a.family !== 'inet' && a.family !== 'inet6') continue;
      const addr: KAddr = { dev: l.ifname, family: a.family === 'inet' ? 4 : 6, local: a.local, prefixlen: a.prefixlen, scope: a.scope };
      if (a.nodad) addr.nodad = true;
      out.push(addr);
    }
  }
  return out;
}

export function parseRoutes(raw: unknown): KRoute[] {
  return (raw as RawRoute[]).map((r) => {
    const family = r.dst.includes(':') || r.gateway?.includes(':') ? 6 : 4;
    const route: KRoute = {
      family,
      dst: r.dst === '::/0' ? 'default' : r.dst,
      protocol: r.protocol ?? 'boot',
      table: r.table ?? 'main',
      type: r.type ?? 'unicast',
    };
    if (r.gateway) route.gateway = r.gateway;
    if (r.dev) route.dev = r.dev;
    return route;
  });
}

interface RawNeigh {
  dst: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
  protocol?: string;
}

export function parseNeighbours(raw: unknown): KNeigh[] {
  return (raw as RawNeigh[]).map((n) => {
    const out: KNeigh = { dev: n.dev ?? '', address: n.dst, state: n.state ?? [] };
    if (n.lladdr) out.lladdr = n.lladdr;
    if (n.protocol !== undefined) out.protocol = String(n.protocol);
    return out;
  });
}

interface RawFdb {
  mac: string;
  dst?: string;
  flags?: string[];
  state?: string;
}

/** `bridge -j fdb show dev DEV` output (which names no device itself). */
export function parseFdb(dev: string, raw: unknown): KFdb[] {
  return (raw as RawFdb[]).map((f) => {
    const out: KFdb = { dev, mac: f.mac, flags: f.flags ?? [] };
    if (f.dst !== undefined) out.dst = f.dst;
    if (f.state !== undefined) out.state = f.state;
    return out;
  });
}

/** Splits the output of `ip -j -batch -` (one JSON document per command, one per line). */
export function splitJsonLines(stdout: string): unknown[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as unknown);
}

/** The 1-based batch line that failed, from "Command failed -:N". */
export function failedBatchLine(stderr: string): number | undefined {
  const m = /Command failed -:(\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}
