import ipaddr from 'ipaddr.js';

/**
 * Address maths for IPv4 and IPv6, pure. Parsing and validation come from ipaddr.js (well kept,
 * handles every IPv6 notation); arithmetic is done on bigints so one code path serves both families.
 */

export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  /** Network address as an integer (host bits cleared). */
  base: bigint;
  prefix: number;
}

const bits = (f: Family) => (f === 4 ? 32 : 128);

export function parseIp(text: string): { family: Family; value: bigint } | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  // Reject the shorthand forms ipaddr accepts for IPv4 ("10.1", "0x0a.0.0.1"): users mean dotted quads.
  if (text.includes('.') && !text.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(text)) return undefined;
  const addr = ipaddr.parse(text);
  const bytes = addr.toByteArray();
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return { family: addr.kind() === 'ipv4' ? 4 : 6, value };
}

export interface ParsedCidr extends Cidr {
  /** True when the text had host bits set (e.g. 172.21.0.1/16). */
  hostBitsSet: boolean;
  /** The address part as written (for gateway-in-CIDR notation). */
  address: bigint;
}

export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  if (prefix > bits(ip.family)) return undefined;
  const base = ip.value & mask(ip.family, prefix);
  return { family: ip.family, base, prefix, hostBitsSet: base !== ip.value, address: ip.value };
}

export function mask(family: Family, prefix: number): bigint {
  const total = bits(family);
  const all = (1n << BigInt(total)) - 1n;
  return prefix === 0 ? 0n : (all >> BigInt(total - prefix)) << BigInt(total - prefix);
}

export function size(c: Cidr): bigint {
  return 1n << BigInt(bits(c.family) - c.prefix);
}

export function lastAddress(c: Cidr): bigint {
  return c.base + size(c) - 1n;
}

export function contains(c: Cidr, family: Family, value: bigint): boolean {
  return c.family === family && value >= c.base && value <= lastAddress(c);
}

export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix && contains(outer, inner.family, inner.base);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

export function formatIp(family: Family, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
  }
  const bytes: number[] = [];
  for (let i = 15; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 255n));
  return ipaddr.fromByteArray(bytes).toString();
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.base)}/${c.prefix}`;
}

/** Canonical text of an address ("fd00:0::1" -> "fd00::1"), or the input if it is not an address. */
export function canonicalIp(text: string): string {
  const ip = parseIp(text);
  return ip ? formatIp(ip.family, ip.value) : text;
}

/** True for the network address, and for IPv4 the broadcast address (not for /31 and /32). */
export function isReserved(c: Cidr, value: bigint): boolean {
  if (c.family === 4 && c.prefix >= 31) return false;
  if (value === c.base) return true;
  return c.family === 4 && value === lastAddress(c);
}
