import { InternalError } from '../../errors.js';

/**
 * Addresses as bytes and back, formatted the way iproute2 prints them (inet_ntop), so snapshots
 * read in-process equal those of `ip -j`. Parsers are strict: a value that is not exactly an
 * address is refused (defence in depth: compile already validated it).
 */

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function parseIPv4(s: string): Buffer | undefined {
  return V4.test(s) ? Buffer.from(s.split('.').map(Number)) : undefined;
}

export function parseIPv6(s: string): Buffer | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length > 45) return undefined;
  let text = s;
  if (s.includes('.')) {
    // A dotted quad at the end stands for the last two words.
    const lastColon = s.lastIndexOf(':');
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    text = `${s.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string | undefined) => (h === undefined || h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const ok = (g: string) => /^[0-9a-fA-F]{1,4}$/.test(g);
  if (!head.every(ok) || !rest.every(ok)) return undefined;
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const words = [...head.map((g) => parseInt(g, 16)), ...Array<number>(8 - total).fill(0), ...rest.map((g) => parseInt(g, 16))];
  if (halves.length === 1 && words.length !== 8) return undefined;
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

/** An IPv4 or IPv6 address as bytes, with its family; throws InternalError when invalid. */
export function parseIp(s: string, what: string): { family: 4 | 6; bytes: Buffer } {
  const v4 = parseIPv4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(s);
  if (v6) return { family: 6, bytes: v6 };
  throw new InternalError(`${what}: ${JSON.stringify(s)} is not an IP address`);
}

/** "10.0.0.0/24", "10.0.0.5" (a host), "default": address, prefix length and family. */
export function parseCidr(s: string, family: 4 | 6 | undefined, what: string): { family: 4 | 6; bytes: Buffer; len: number } {
  if (s === 'default') {
    const f = family ?? 4;
    return { family: f, bytes: Buffer.alloc(f === 4 ? 4 : 16), len: 0 };
  }
  const slash = s.indexOf('/');
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash), what);
  const max = ip.family === 4 ? 32 : 128;
  const lenText = slash < 0 ? String(max) : s.slice(slash + 1);
  const len = Number(lenText);
  if (!/^\d{1,3}$/.test(lenText) || len > max || (family !== undefined && family !== ip.family)) throw new InternalError(`${what}: ${JSON.stringify(s)} is not a prefix`);
  return { ...ip, len };
}

export function parseMac(s: string, what: string): Buffer {
  if (!MAC.test(s)) throw new InternalError(`${what}: ${JSON.stringify(s)} is not a MAC address`);
  return Buffer.from(s.split(':').map((x) => parseInt(x, 16)));
}

export function formatMac(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function formatIPv4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** inet_ntop(AF_INET6): the longest run (at least two) of zero words becomes "::", first on ties. */
export function formatIPv6(b: Buffer): string {
  const w = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  // IPv4-compatible and IPv4-mapped addresses end in dotted quads, as glibc prints them.
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
    return `::${bestLen === 5 ? 'ffff:' : ''}${formatIPv4(b.subarray(12))}`;
  }
  const hex = (a: number, z: number) => w.slice(a, z).map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

export function formatIp(b: Buffer): string {
  return b.length === 4 ? formatIPv4(b) : b.length === 16 ? formatIPv6(b) : formatMac(b);
}

/** Linux's dev_valid_name: 1-15 bytes, not "." or "..", no '/', ':' or white space. */
export function checkIfName(name: string, what: string): string {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes < 1 || bytes > 15 || name === '.' || name === '..' || /[/:\s]/.test(name) || name.includes('\0')) {
    throw new InternalError(`${what}: ${JSON.stringify(name)} is not a valid interface name`);
  }
  return name;
}
