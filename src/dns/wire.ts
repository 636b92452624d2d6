import { Packet } from 'dns2';
import { DNS_TTL } from '../compile/index.js';

/**
 * DNS wire format for the server's hot path. Queries are parsed by hand (header, the one
 * question, an EDNS OPT record) without building objects; answers are records that dns2 encoded
 * once, with the owner name as a pointer to the question (offset 12), so a response is the
 * query's header and question bytes followed by precomputed record bytes. Pure.
 */

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeName = keyof typeof RCODE;
export const RCODE_NAMES: readonly RcodeName[] = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** The UDP payload size weft advertises with EDNS (the DNS flag day's value: no fragmentation). */
export const EDNS_UDP_SIZE = 1232;
const HEADER = 12;
const MAX_NAME = 255;

export interface Query {
  id: number;
  opcode: number;
  /** Recursion desired, copied into the response. */
  rd: boolean;
  /** Offset just after the question (qtype and qclass): the response copies bytes 12..questionEnd. */
  questionEnd: number;
  qtype: number;
  qclass: number;
  /** The message: the question name is its bytes 12..nameEnd (queryName() makes it text). */
  msg: Buffer;
  nameEnd: number;
  /**
   * FNV-1a of the name's wire bytes as sent, and of qtype: with the bytes themselves, the answer
   * cache key, computed without building a string (a case variant is one more cache entry).
   */
  hash: number;
  /** EDNS UDP payload size the client accepts; 0 when the query has no OPT record. */
  edns: number;
}

/** Why a message gets no answer from the cache: drop it (a response, garbage) or answer with an rcode. */
export type ParseFailure = { drop: true } | { drop: false; rcode: number; id: number; opcode: number; rd: boolean };

/** Parses a query. Returns a ParseFailure for anything the server will not look up. */
export function parseQuery(msg: Buffer): Query | ParseFailure {
  if (msg.length < HEADER) return { drop: true };
  const id = msg.readUInt16BE(0);
  const b2 = msg[2]!;
  if (b2 & 0x80) return { drop: true }; // a response, not a query
  const opcode = (b2 >> 3) & 0x0f;
  const rd = (b2 & 0x01) !== 0;
  if (opcode !== 0) return { drop: false, rcode: RCODE.NOTIMP, id, opcode, rd };
  if (msg.readUInt16BE(4) !== 1) return { drop: false, rcode: RCODE.FORMERR, id, opcode, rd };
  let off = HEADER;
  let hash = 0x811c9dc5;
  for (;;) {
    if (off >= msg.length) return { drop: false, rcode: RCODE.FORMERR, id, opcode, rd };
    const len = msg[off]!;
    if (len === 0) break;
    // Compression pointers (and the reserved label types) have no place in a question.
    if (len & 0xc0 || off + 1 + len - HEADER > MAX_NAME || off + 1 + len >= msg.length) return { drop: false, rcode: RCODE.FORMERR, id, opcode, rd };
    const end = off + 1 + len;
    for (let i = off; i < end; i++) hash = Math.imul(hash ^ msg[i]!, 0x01000193);
    off = end;
  }
  const nameEnd = off + 1;
  if (nameEnd + 4 > msg.length) return { drop: false, rcode: RCODE.FORMERR, id, opcode, rd };
  const qtype = msg.readUInt16BE(nameEnd);
  const qclass = msg.readUInt16BE(nameEnd + 2);
  const questionEnd = nameEnd + 4;
  hash = Math.imul(hash ^ qtype, 0x01000193);
  return { id, opcode, rd, questionEnd, qtype, qclass, msg, nameEnd, hash, edns: ednsSize(msg, questionEnd) };
}

/** Whether the query's name has exactly these wire bytes (case as sent). No allocation. */
export function sameName(q: Query, wire: Buffer): boolean {
  const len = q.nameEnd - HEADER;
  if (wire.length !== len) return false;
  const msg = q.msg;
  for (let i = 0; i < len; i++) if (msg[HEADER + i] !== wire[i]) return false;
  return true;
}

/** The question name's wire bytes (a copy, for a cache entry). */
export function nameBytes(q: Query): Buffer {
  return Buffer.from(q.msg.subarray(HEADER, q.nameEnd));
}

/** The question name in lower-case dotted form, without the final dot ("" for the root). */
export function queryName(q: Query): string {
  return dottedName(q.msg.toString('latin1', HEADER, q.nameEnd).toLowerCase());
}

function dottedName(wire: string): string {
  const labels: string[] = [];
  let i = 0;
  while (i < wire.length) {
    const len = wire.charCodeAt(i);
    if (len === 0) break;
    labels.push(wire.slice(i + 1, i + 1 + len));
    i += 1 + len;
  }
  return labels.join('.');
}

/** The UDP size of an OPT record at the start of the additional section (answer and authority empty, as in queries). */
function ednsSize(msg: Buffer, off: number): number {
  if (msg.readUInt16BE(6) !== 0 || msg.readUInt16BE(8) !== 0 || msg.readUInt16BE(10) < 1) return 0;
  // OPT's owner is the root: one zero byte, then type 41, then the size in the class field.
  if (off + 11 > msg.length || msg[off] !== 0 || msg.readUInt16BE(off + 1) !== TYPE.OPT) return 0;
  return Math.max(512, msg.readUInt16BE(off + 3));
}

/** The largest response a client takes: 65535 over TCP, its EDNS size (at most ours) or 512 over UDP. */
export function sizeLimit(q: Query, tcp: boolean): number {
  if (tcp) return 65535;
  return q.edns > 0 ? Math.min(q.edns, EDNS_UDP_SIZE) : 512;
}

const OPT_RR = Buffer.from([0, 0, TYPE.OPT, EDNS_UDP_SIZE >> 8, EDNS_UDP_SIZE & 0xff, 0, 0, 0, 0, 0, 0]);

/**
 * A response to a parsed query: its header and question, then `records` (already encoded, owner
 * names pointing at the question) unless they do not fit, then truncated (TC) so the client
 * retries over TCP. An OPT record answers an EDNS query.
 */
export function buildResponse(msg: Buffer, q: Query, rcode: number, records: Buffer, count: number, limit: number): Buffer {
  const opt = q.edns > 0 ? OPT_RR.length : 0;
  let truncated = q.questionEnd + records.length + opt > limit;
  if (truncated) count = 0;
  const size = q.questionEnd + (truncated ? 0 : records.length) + opt;
  // Even a bare question may not fit a hostile tiny limit; never exceed it.
  if (size > limit) truncated = true;
  const out = Buffer.allocUnsafe(size);
  msg.copy(out, 0, 0, q.questionEnd);
  out[2] = 0x80 | (q.opcode << 3) | 0x04 | (truncated ? 0x02 : 0) | (q.rd ? 0x01 : 0);
  out[3] = 0x80 | rcode;
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(count, 6);
  out.writeUInt32BE(opt ? 1 : 0, 8); // nscount 0, arcount
  let off = q.questionEnd;
  if (count > 0) off += records.copy(out, off);
  if (opt) OPT_RR.copy(out, off);
  return out;
}

/** A response with only a header and, when the question parsed, the question: for errors and refusals. */
export function errorResponse(msg: Buffer, f: { id: number; opcode: number; rd: boolean }, rcode: number, q?: Query): Buffer {
  if (q) return buildResponse(msg, q, rcode, Buffer.alloc(0), 0, 65535);
  const out = Buffer.alloc(HEADER);
  out.writeUInt16BE(f.id, 0);
  out[2] = 0x80 | (f.opcode << 3) | (f.rd ? 0x01 : 0);
  out[3] = 0x80 | rcode;
  return out;
}

/** The rcode of a DNS message (for forwarded responses' statistics). */
export function rcodeOf(msg: Buffer): number {
  return msg.length >= 4 ? msg[3]! & 0x0f : RCODE.SERVFAIL;
}

export type RecordData = { type: typeof TYPE.A | typeof TYPE.AAAA; address: string } | { type: typeof TYPE.PTR; domain: string };

/** The longest name in dotted form (255 bytes on the wire) and the longest label (RFC 1035). */
export const MAX_DNS_NAME = 253;
export const MAX_DNS_LABEL = 63;
const LABEL = /^[\x21-\x2d\x2f-\x7e]{1,63}$/;

/**
 * Whether a name can go on the wire as weft encodes it: printable ASCII labels of 1 to 63 bytes,
 * at most 253 characters. The record store refuses other names (a 64-character label made the
 * encoder throw and the daemon die).
 */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_DNS_NAME) return false;
  for (const label of name.split('.')) if (!LABEL.test(label)) return false;
  return true;
}

/** Why a record cannot be encoded (thrown by encodeRecord; callers catch it, never a socket handler). */
export class RecordEncodingError extends Error {}

/**
 * Encodes one answer record with dns2, for a response whose question is `qname`: the owner is a
 * compression pointer to the question, so the bytes fit any response to that name, whatever the
 * case the client used. Cold path: the store caches the result. Throws RecordEncodingError for a
 * name that is not a valid DNS name (checked first: dns2 would write a corrupt label or throw).
 */
export function encodeRecord(qname: string, qtype: number, rr: RecordData, ttl = DNS_TTL): Buffer {
  if (!isDnsName(qname)) throw new RecordEncodingError(`not a DNS name: ${JSON.stringify(qname.slice(0, 80))}`);
  if (rr.type === TYPE.PTR && !isDnsName(rr.domain)) throw new RecordEncodingError(`not a DNS name: ${JSON.stringify(rr.domain.slice(0, 80))}`);
  const p = new Packet();
  p.questions.push(new Packet.Question(qname, qtype, CLASS_IN));
  p.answers.push(new Packet.Resource({ name: qname, class: CLASS_IN, ttl, ...rr }));
  const whole = p.toBuffer();
  return whole.subarray(HEADER + encodedNameLength(qname) + 4);
}

function encodedNameLength(name: string): number {
  const labels = name.split('.').filter((l) => l.length > 0);
  return labels.reduce((n, l) => n + 1 + Buffer.byteLength(l, 'latin1'), 0) + 1;
}

/** The in-addr.arpa / ip6.arpa name of an address (lower case, no final dot). */
export function reverseName(address: string): string {
  if (!address.includes(':')) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${[...expandIpv6(address)].reverse().join('.')}.ip6.arpa`;
}

/** 32 lower-case hex digits of an IPv6 address. */
function expandIpv6(address: string): string {
  const [head = '', tail] = address.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('');
}
