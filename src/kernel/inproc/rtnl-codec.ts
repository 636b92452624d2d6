import { NL } from './rtnl-constants.js';

/**
 * rtnetlink framing: building request messages (netlink header, a fixed struct, nested
 * attributes) and splitting replies into messages and attributes. Pure, no system calls.
 */

const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;
const NLA_TYPE_MASK = 0x3fff;

const align4 = (n: number) => (n + 3) & ~3;

/** A netlink attribute to encode: a payload, or nested attributes. */
export type Attr = { type: number; data: Buffer } | { type: number; nested: Attr[] };

export const attr = {
  bytes: (type: number, data: Buffer): Attr => ({ type, data }),
  u8: (type: number, v: number): Attr => ({ type, data: Buffer.of(v & 0xff) }),
  u16: (type: number, v: number): Attr => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return { type, data: b };
  },
  be16: (type: number, v: number): Attr => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return { type, data: b };
  },
  u32: (type: number, v: number): Attr => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return { type, data: b };
  },
  /** A NUL-terminated string (IFLA_IFNAME, IFLA_INFO_KIND). */
  str: (type: number, s: string): Attr => ({ type, data: Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]) }),
  /** A string without its NUL (IFLA_IFALIAS takes its length from the attribute). */
  raw: (type: number, s: string): Attr => ({ type, data: Buffer.from(s, 'utf8') }),
  nest: (type: number, nested: Attr[]): Attr => ({ type, nested }),
};

function attrSize(a: Attr): number {
  return NLA_HDRLEN + ('data' in a ? a.data.length : a.nested.reduce((n, x) => n + align4(attrSize(x)), 0));
}

function writeAttr(buf: Buffer, off: number, a: Attr): number {
  const len = attrSize(a);
  buf.writeUInt16LE(len, off);
  // Nested attributes carry NLA_F_NESTED (the kernel's strict validation wants it).
  buf.writeUInt16LE('data' in a ? a.type : a.type | 0x8000, off + 2);
  if ('data' in a) a.data.copy(buf, off + NLA_HDRLEN);
  else {
    let p = off + NLA_HDRLEN;
    for (const x of a.nested) p = writeAttr(buf, p, x);
  }
  return off + align4(len);
}

/** Encodes attributes alone (the payload of VETH_INFO_PEER follows an ifinfomsg). */
export function encodeAttrs(attrs: readonly Attr[]): Buffer {
  const buf = Buffer.alloc(attrs.reduce((n, a) => n + align4(attrSize(a)), 0));
  let off = 0;
  for (const a of attrs) off = writeAttr(buf, off, a);
  return buf;
}

/** One request: header, fixed struct (ifinfomsg, ifaddrmsg, rtmsg, ndmsg), attributes. */
export function encodeMessage(type: number, flags: number, seq: number, fixed: Buffer, attrs: readonly Attr[]): Buffer {
  const body = encodeAttrs(attrs);
  const fixedLen = align4(fixed.length);
  const len = NLMSG_HDRLEN + fixedLen + body.length;
  const buf = Buffer.alloc(len);
  buf.writeUInt32LE(len, 0);
  buf.writeUInt16LE(type, 4);
  buf.writeUInt16LE(flags | NL.NLM_F_REQUEST, 6);
  buf.writeUInt32LE(seq >>> 0, 8);
  buf.writeUInt32LE(0, 12);
  fixed.copy(buf, NLMSG_HDRLEN);
  body.copy(buf, NLMSG_HDRLEN + fixedLen);
  return buf;
}

/** struct ifinfomsg: family, type, index, flags, change (16 bytes). */
export function ifinfomsg(o: { family?: number; index?: number; flags?: number; change?: number } = {}): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(o.family ?? 0, 0);
  b.writeInt32LE(o.index ?? 0, 4);
  b.writeUInt32LE(o.flags ?? 0, 8);
  b.writeUInt32LE(o.change ?? 0, 12);
  return b;
}

/** struct ifaddrmsg: family, prefixlen, flags, scope, index (8 bytes). */
export function ifaddrmsg(o: { family: number; prefixlen: number; flags?: number; scope?: number; index: number }): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(o.family, 0);
  b.writeUInt8(o.prefixlen, 1);
  b.writeUInt8(o.flags ?? 0, 2);
  b.writeUInt8(o.scope ?? 0, 3);
  b.writeUInt32LE(o.index, 4);
  return b;
}

/** struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags (12 bytes). */
export function rtmsg(o: { family: number; dstLen?: number; table?: number; protocol?: number; scope?: number; type?: number }): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(o.family, 0);
  b.writeUInt8(o.dstLen ?? 0, 1);
  b.writeUInt8(o.table ?? 0, 4);
  b.writeUInt8(o.protocol ?? 0, 5);
  b.writeUInt8(o.scope ?? 0, 6);
  b.writeUInt8(o.type ?? 0, 7);
  return b;
}

/** struct ndmsg: family, ifindex, state, flags, type (12 bytes). */
export function ndmsg(o: { family: number; index?: number; state?: number; flags?: number }): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(o.family, 0);
  b.writeInt32LE(o.index ?? 0, 4);
  b.writeUInt16LE(o.state ?? 0, 8);
  b.writeUInt8(o.flags ?? 0, 10);
  return b;
}

/** A received message: its header fields and its body (what follows the 16-byte header). */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  body: Buffer;
}

/** Splits one received datagram into messages. Truncated trailing bytes are ignored. */
export function splitMessages(buf: Buffer, received: number): NlMessage[] {
  const length = Math.min(received, buf.length);
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > length) break;
    // Copied: the receive buffer is reused for the next datagram.
    out.push({ type: buf.readUInt16LE(off + 4), flags: buf.readUInt16LE(off + 6), seq: buf.readUInt32LE(off + 8), body: Buffer.from(buf.subarray(off + NLMSG_HDRLEN, off + len)) });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (the last one wins; nested attributes stay as their payload). */
export function parseAttrs(buf: Buffer, start = 0, end = buf.length): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = start;
  while (off + NLA_HDRLEN <= end) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HDRLEN || off + len > end) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

/** An NLMSG_ERROR body: errno (0 for an ACK) and the kernel's extended message, if any. */
export function parseError(msg: NlMessage): { errno: number; message?: string } {
  if (msg.body.length < 4) return { errno: 71 /* EPROTO: a truncated error message */ };
  const errno = -msg.body.readInt32LE(0);
  // The echoed request: its header only when capped (NETLINK_CAP_ACK), else the whole message.
  const echoedLen = msg.flags & NL.NLM_F_CAPPED || msg.body.length < 8 ? NLMSG_HDRLEN : msg.body.readUInt32LE(4);
  const out: { errno: number; message?: string } = { errno };
  if (msg.flags & NL.NLM_F_ACK_TLVS) {
    const tlv = parseAttrs(msg.body, 4 + align4(echoedLen));
    const m = tlv.get(NL.NLMSGERR_ATTR_MSG);
    if (m) out.message = cString(m);
  }
  return out;
}

/** A NUL-terminated string attribute. */
export function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

export const u8 = (b: Buffer | undefined): number | undefined => (b && b.length >= 1 ? b.readUInt8(0) : undefined);
export const u32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readUInt32LE(0) : undefined);
export const s32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readInt32LE(0) : undefined);
