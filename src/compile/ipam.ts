import type { Problem } from '../errors.js';
import type { Cidr, Family } from '../net/cidr.js';
import { contains, formatCidr, isReserved, lastAddress, overlaps, parseCidr, parseIp, size } from '../net/cidr.js';
import { sha256Hex } from '../net/ids.js';
import { positionOf } from '../manifest/index.js';
import type { Network } from '../model/index.js';

/**
 * IPAM: subnets for networks that declare none, addresses for endpoints. Sticky: what the kernel
 * already has is kept when it still fits; new allocations take the lowest free value. Pure.
 */

export interface Pool {
  subnet: Cidr;
  gateway: bigint;
  /** Dynamic allocations come from here (ipRange, or the whole subnet). */
  range: Cidr;
  /** Addresses never handed out dynamically: gateway, aux addresses. */
  reserved: Set<bigint>;
}

export interface NetworkPools {
  v4: Pool[];
  v6: Pool[];
}

/** Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s. */
export const dockerDefaultPools: { base: string; size: number }[] = [
  { base: '172.17.0.0/16', size: 16 },
  ...Array.from({ length: 14 }, (_, i) => ({ base: `172.${18 + i}.0.0/16`, size: 16 })),
  { base: '192.168.0.0/16', size: 20 },
];

/** Docker swarm's default for overlay networks: 10.0.0.0/8 cut into /24s. */
export const overlayDefaultPools: { base: string; size: number }[] = [{ base: '10.0.0.0/8', size: 24 }];

function* candidates(pools: { base: string; size: number }[]): Generator<Cidr> {
  for (const p of pools) {
    const base = parseCidr(p.base);
    if (!base) continue;
    const step = 1n << BigInt(32 - p.size);
    for (let v = base.base; v + step - 1n <= lastAddress(base); v += step) yield { family: 4, base: v, prefix: p.size };
  }
}

function poolFromSubnet(subnet: Cidr, gateway?: bigint, range?: Cidr, aux: bigint[] = []): Pool {
  const gw = gateway ?? subnet.base + 1n;
  return { subnet, gateway: gw, range: range ?? subnet, reserved: new Set([gw, ...aux]) };
}

function declaredPools(n: Network): NetworkPools {
  const out: NetworkPools = { v4: [], v6: [] };
  for (const p of n.pools) {
    const subnet: Cidr = { family: p.subnet.family, base: p.subnet.base, prefix: p.subnet.prefix };
    const aux = Object.values(p.auxAddresses)
      .map((a) => parseIp(a))
      .filter((a) => a !== undefined && a.family === subnet.family)
      .map((a) => a!.value);
    const range = p.ipRange ? { family: p.ipRange.family, base: p.ipRange.base, prefix: p.ipRange.prefix } : undefined;
    (subnet.family === 4 ? out.v4 : out.v6).push(poolFromSubnet(subnet, p.gateway?.value, range, aux));
  }
  return out;
}

/** A ULA /64 derived from the network id, for IPv6 networks without a declared IPv6 subnet. */
function ulaFor(n: Network): Cidr {
  const h = sha256Hex(`weft:ula:${n.id}`);
  let v = 0xfdn;
  for (let i = 0; i < 7; i++) v = (v << 8n) | BigInt(parseInt(h.slice(i * 2, i * 2 + 2), 16));
  return { family: 6, base: v << 64n, prefix: 64 };
}

export interface SubnetRequest {
  network: Network;
  /** Default pools to draw from when the network declares none; undefined: a subnet is required. */
  defaults?: { base: string; size: number }[];
  /** Earlier allocation found in the kernel (gateway CIDRs), honoured when it still fits. */
  sticky: string[];
}

/**
 * Gives every network its pools: declared ones as written; otherwise the sticky allocation if it
 * does not collide, else the next free subnet from the defaults. Networks are taken in the order
 * given (callers sort them), so the result is deterministic.
 */
export function allocateSubnets(
  requests: readonly SubnetRequest[],
  hostRoutes: readonly string[],
): { pools: Map<string, NetworkPools>; problems: Problem[] } {
  const pools = new Map<string, NetworkPools>();
  const problems: Problem[] = [];
  const taken: Cidr[] = hostRoutes.map((r) => parseCidr(r)).filter((c) => c !== undefined && c.prefix > 0) as Cidr[];
  const declaredTaken: Cidr[] = [];
  for (const r of requests) {
    const d = declaredPools(r.network);
    for (const p of [...d.v4, ...d.v6]) declaredTaken.push(p.subnet);
  }
  const used: Cidr[] = [...declaredTaken];
  const pending: SubnetRequest[] = [];
  for (const r of requests) {
    const d = declaredPools(r.network);
    if (d.v4.length > 0 || r.network.pools.length > 0 || !r.defaults) {
      pools.set(r.network.name, d);
      continue;
    }
    const sticky = r.sticky
      .map((s) => parseCidr(s))
      .find((c) => c !== undefined && c.family === 4 && !used.some((u) => overlaps(u, c)));
    if (sticky) {
      const subnet: Cidr = { family: 4, base: sticky.base, prefix: sticky.prefix };
      used.push(subnet);
      pools.set(r.network.name, { v4: [poolFromSubnet(subnet, sticky.address)], v6: d.v6 });
    } else pending.push(r);
  }
  for (const r of pending) {
    let found: Cidr | undefined;
    for (const c of candidates(r.defaults ?? [])) {
      if (!used.some((u) => overlaps(u, c)) && !taken.some((t) => overlaps(t, c))) {
        found = c;
        break;
      }
    }
    if (!found) {
      problems.push({
        code: 'POOLS_EXHAUSTED',
        pos: r.network.src ? positionOf(r.network.src.doc, '/metadata/name') : { file: '<predefined>', line: 1, col: 1 },
        message: `network "${r.network.name}": no free subnet left in the default address pools`,
        hint: 'declare a subnet in spec.ipam.config',
      });
      continue;
    }
    used.push(found);
    pools.set(r.network.name, { v4: [poolFromSubnet(found)], v6: declaredPools(r.network).v6 });
  }
  for (const r of requests) {
    const p = pools.get(r.network.name);
    if (p && r.network.enableIPv6 && p.v6.length === 0) p.v6.push(poolFromSubnet(ulaFor(r.network)));
  }
  return { pools, problems };
}

export interface AddressRequest {
  key: string;
  /** Static address from the manifest. */
  static?: bigint;
  /** Addresses the kernel has for this endpoint (values of this family). */
  sticky: bigint[];
  /** Addresses the endpoint had before someone deleted them: after every sticky one, if still free. */
  remembered?: bigint[];
}

/**
 * Hands out addresses of one family on one network: statics first, then sticky ones that still
 * fit and are free, then remembered ones (an address someone deleted: see Allocations.remembered)
 * that fit and are still free, then new ones. New ones are the lowest free address of the pools' ranges
 * (Docker's way, for local networks, whose allocations are sticky); with `spread` (a seed: the
 * network's name), each key starts at a slot hashed from seed and key and takes the next free
 * one from there, in key order. Global networks use that: it is a function of the manifests
 * alone, and adding or removing a container moves no other one (unless their slots collide).
 * Returns key -> address and the keys that could not be served.
 */
export function allocateAddresses(
  pools: readonly Pool[],
  requests: readonly AddressRequest[],
  opts: { spread?: string } = {},
): { assigned: Map<string, { value: bigint; pool: Pool }>; exhausted: string[] } {
  const assigned = new Map<string, { value: bigint; pool: Pool }>();
  const used = new Set<bigint>();
  for (const p of pools) for (const r of p.reserved) used.add(r);
  const poolOf = (v: bigint) => pools.find((p) => contains(p.subnet, p.subnet.family, v) && !isReserved(p.subnet, v));
  for (const r of requests) {
    if (r.static === undefined) continue;
    const pool = poolOf(r.static);
    if (!pool) continue;
    assigned.set(r.key, { value: r.static, pool });
    used.add(r.static);
  }
  for (const r of requests) {
    if (assigned.has(r.key) || r.static !== undefined) continue;
    const keep = r.sticky.find((v) => !used.has(v) && poolOf(v) !== undefined);
    if (keep === undefined) continue;
    assigned.set(r.key, { value: keep, pool: poolOf(keep)! });
    used.add(keep);
  }
  for (const r of requests) {
    if (assigned.has(r.key) || r.static !== undefined) continue;
    const back = r.remembered?.find((v) => !used.has(v) && poolOf(v) !== undefined);
    if (back === undefined) continue;
    assigned.set(r.key, { value: back, pool: poolOf(back)! });
    used.add(back);
  }
  const exhausted: string[] = [];
  const free = (p: Pool, v: bigint) => !used.has(v) && !isReserved(p.subnet, v);
  const cursors = pools.map((p) => p.range.base);
  const pending = requests.filter((r) => !assigned.has(r.key));
  if (opts.spread !== undefined) pending.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const r of pending) {
    let got: { value: bigint; pool: Pool } | undefined;
    for (const [i, p] of pools.entries()) {
      const v = opts.spread !== undefined ? probe(p, `${opts.spread}\u0000${r.key}`, free) : lowest(p, cursors[i] ?? p.range.base, free);
      if (v === undefined) continue;
      got = { value: v, pool: p };
      if (opts.spread === undefined) cursors[i] = v + 1n;
      break;
    }
    if (!got) {
      exhausted.push(r.key);
      continue;
    }
    assigned.set(r.key, got);
    used.add(got.value);
  }
  return { assigned, exhausted };
}

function lowest(p: Pool, from: bigint, free: (p: Pool, v: bigint) => boolean): bigint | undefined {
  const end = lastAddress(p.range);
  for (let v = from; v <= end; v++) if (free(p, v)) return v;
  return undefined;
}

/** Probing stops after this many taken slots: a range that full is treated as exhausted. */
const MAX_PROBES = 1n << 20n;

/** The first free address at or after the slot hashed from `seed`, wrapping around the range. */
function probe(p: Pool, seed: string, free: (p: Pool, v: bigint) => boolean): bigint | undefined {
  const n = size(p.range);
  const start = BigInt(`0x${sha256Hex(`weft:ip:${seed}`).slice(0, 24)}`) % n;
  const limit = n < MAX_PROBES ? n : MAX_PROBES;
  for (let i = 0n; i < limit; i++) {
    const v = p.range.base + ((start + i) % n);
    if (free(p, v)) return v;
  }
  return undefined;
}

export function describePool(p: Pool): string {
  return formatCidr(p.subnet);
}

export function familyOf(p: Pool): Family {
  return p.subnet.family;
}

export { size };
