import { isIP } from 'node:net';
import { KernelInputError } from '../errors.js';
import type { FdbOp, IpOp, KernelProgram, NftTableRef, NsRef, NsWork, SysctlWrite } from './types.js';

/**
 * Defence in depth: the last check before a token becomes part of an `ip -batch` line, a
 * `bridge -batch` line, a /proc/sys path, an nsenter argument or a file under /etc/netns. The
 * manifest rules should already have refused anything odd; if one is missed, these throw
 * KernelInputError (an internal error) instead of letting text become a command or a path. Each
 * check is a strict whitelist of what weft itself generates. Pure.
 */

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
const NETNS_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;
const NS_PATH = /^(?:\/run\/netns\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}|\/proc\/[1-9][0-9]{0,9}\/ns\/net)$/;
const MAC = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;
const SYSCTL_SEGMENT = /^[A-Za-z0-9_.@-]{1,64}$/;
const SYSCTL_VALUE = /^[A-Za-z0-9 ._:-]{0,64}$/;
const NFT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const NFT_FAMILIES = new Set(['ip', 'ip6', 'inet', 'bridge', 'arp', 'netdev']);
const MACVLAN_MODES = new Set(['private', 'vepa', 'bridge', 'passthru', 'source']);
const ETC_NETNS_FILE = /^\/etc\/netns\/([A-Za-z0-9_][A-Za-z0-9_.-]{0,254})\/(?:hosts|resolv\.conf|hostname)$/;
const ETC_NETNS_DIR = /^\/etc\/netns\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;
// File text: printable characters, tabs and line feeds only (no NUL, no escape sequences).
const FILE_TEXT = /^[^\p{Cc}]*$/u;
const TEXT_CONTROL = /[\p{Cc}]/u;
/** IFALIASZ - 1: the longest interface alias the kernel keeps. */
const ALIAS_MAX = 255;

function refuse(what: string, value: unknown, expected: string): never {
  throw new KernelInputError(what, value, expected);
}

export function checkIfname(what: string, v: unknown): string {
  if (typeof v !== 'string' || !IFNAME.test(v) || v === '.' || v === '..') refuse(what, v, 'an interface name');
  return v;
}

/** A netns as `ip link ... netns X` takes it: a name under /run/netns or a PID. */
export function checkNetnsTarget(what: string, v: unknown): string {
  if (typeof v !== 'string' || !(NETNS_NAME.test(v) || /^[1-9][0-9]{0,9}$/.test(v))) refuse(what, v, 'a namespace name or PID');
  return v;
}

export function checkNetnsName(what: string, v: unknown): string {
  if (typeof v !== 'string' || !NETNS_NAME.test(v)) refuse(what, v, 'a namespace name');
  return v;
}

export function checkNsPath(what: string, v: unknown): string | null {
  if (v !== null && (typeof v !== 'string' || !NS_PATH.test(v))) refuse(what, v, 'a namespace path (/run/netns/NAME or /proc/PID/ns/net)');
  return v;
}

export function checkMac(what: string, v: unknown): string {
  if (typeof v !== 'string' || !MAC.test(v)) refuse(what, v, 'a MAC address');
  return v;
}

export function checkIp(what: string, v: unknown): string {
  if (typeof v !== 'string' || isIP(v) === 0) refuse(what, v, 'an IP address');
  return v;
}

export function checkCidr(what: string, v: unknown): string {
  const [ip, prefix, extra] = typeof v === 'string' ? v.split('/') : [];
  const family = ip !== undefined ? isIP(ip) : 0;
  const ok = family !== 0 && extra === undefined && prefix !== undefined && /^[0-9]{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
  if (!ok) refuse(what, v, 'an address/prefix');
  return v as string;
}

/** A route destination: "default", an address or an address/prefix. */
export function checkRouteDst(what: string, v: unknown): string {
  if (v === 'default') return v;
  if (typeof v === 'string' && isIP(v) !== 0) return v;
  return checkCidr(what, v);
}

export function checkInt(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) refuse(what, v, `a whole number from ${min} to ${max}`);
  return v;
}

export function checkAlias(what: string, v: unknown): string {
  if (typeof v !== 'string' || v.length > ALIAS_MAX || TEXT_CONTROL.test(v)) refuse(what, v, `one line of at most ${ALIAS_MAX} printable characters`);
  return v;
}

/** Every token of an `ip -batch` operation. */
export function checkIpOp(op: IpOp): void {
  const w = (field: string) => `${op.op} ${field}`;
  switch (op.op) {
    case 'link-add-bridge':
      checkIfname(w('name'), op.name);
      checkInt(w('mtu'), op.mtu, 68, 65535);
      return;
    case 'link-add-veth':
      checkIfname(w('name'), op.name);
      checkInt(w('mtu'), op.mtu, 68, 65535);
      if (op.master !== undefined) checkIfname(w('master'), op.master);
      checkIfname(w('peer name'), op.peer.name);
      checkNetnsTarget(w('peer netns'), op.peer.netns);
      checkMac(w('peer address'), op.peer.mac);
      checkInt(w('peer mtu'), op.peer.mtu, 68, 65535);
      return;
    case 'link-set':
      checkIfname(w('name'), op.name);
      if (op.mac !== undefined) checkMac(w('address'), op.mac);
      if (op.mtu !== undefined) checkInt(w('mtu'), op.mtu, 68, 65535);
      if (op.master !== undefined && op.master !== null) checkIfname(w('master'), op.master);
      if (op.alias !== undefined) checkAlias(w('alias'), op.alias);
      if (op.addrgenmode !== undefined && op.addrgenmode !== 'none' && op.addrgenmode !== 'eui64') refuse(w('addrgenmode'), op.addrgenmode, 'none or eui64');
      return;
    case 'link-add-vxlan':
      checkIfname(w('name'), op.name);
      checkInt(w('mtu'), op.mtu, 68, 65535);
      checkInt(w('id'), op.vni, 0, 16_777_215);
      checkInt(w('dstport'), op.dstport, 1, 65535);
      if (op.local !== undefined && op.local !== '') checkIp(w('local'), op.local);
      return;
    case 'link-add-vlan':
      checkIfname(w('name'), op.name);
      checkIfname(w('link'), op.parent);
      checkInt(w('id'), op.vlanId, 0, 4095);
      return;
    case 'link-add-macvlan':
      checkIfname(w('name'), op.name);
      checkIfname(w('link'), op.parent);
      checkMac(w('address'), op.mac);
      checkInt(w('mtu'), op.mtu, 68, 65535);
      checkNetnsTarget(w('netns'), op.netns);
      if (!MACVLAN_MODES.has(op.mode)) refuse(w('mode'), op.mode, `one of ${[...MACVLAN_MODES].join(', ')}`);
      return;
    case 'link-del':
      checkIfname(w('name'), op.name);
      return;
    case 'link-move':
      checkIfname(w('name'), op.name);
      checkNetnsTarget(w('netns'), op.netns);
      checkIfname(w('new name'), op.newName);
      return;
    case 'neigh-replace':
      checkIp(w('address'), op.address);
      checkMac(w('lladdr'), op.lladdr);
      checkIfname(w('dev'), op.dev);
      checkInt(w('proto'), op.proto, 0, 255);
      return;
    case 'neigh-del':
      checkIp(w('address'), op.address);
      checkIfname(w('dev'), op.dev);
      return;
    case 'addr-add':
    case 'addr-replace':
    case 'addr-del':
      checkCidr(w('address'), op.cidr);
      checkIfname(w('dev'), op.dev);
      if (op.nodad !== undefined && typeof op.nodad !== 'boolean') refuse(w('nodad'), op.nodad, 'true or false');
      return;
    case 'route-replace':
    case 'route-del':
      checkRouteDst(w('destination'), op.dst);
      if (op.via !== undefined) checkIp(w('via'), op.via);
      checkIfname(w('dev'), op.dev);
      checkInt(w('proto'), op.proto, 0, 255);
      if (op.family !== 4 && op.family !== 6) refuse(w('family'), op.family, '4 or 6');
      return;
    default:
      refuse('ip operation', (op as { op: unknown }).op, 'a known operation');
  }
}

/** Every token of a `bridge -batch` forwarding entry. */
export function checkFdbOp(op: FdbOp): void {
  if (op.op !== 'fdb-append' && op.op !== 'fdb-del') refuse('fdb operation', op.op, 'fdb-append or fdb-del');
  checkMac(`${op.op} mac`, op.mac);
  checkIfname(`${op.op} dev`, op.dev);
  checkIp(`${op.op} dst`, op.dst);
}

/**
 * A /proc/sys path (one name per segment, never "." or ".."; writes only below net/) and the
 * value to write.
 */
export function checkSysctl(s: Pick<SysctlWrite, 'path'> & Partial<Pick<SysctlWrite, 'value'>>): void {
  const segs = typeof s.path === 'string' ? s.path.split('/') : [];
  const write = s.value !== undefined;
  const ok = (!write || segs[0] === 'net') && segs.length >= 2 && segs.length <= 6 && segs.every((x) => SYSCTL_SEGMENT.test(x) && x !== '.' && x !== '..');
  if (!ok) refuse('sysctl path', s.path, write ? 'a path below /proc/sys/net' : 'a path below /proc/sys');
  if (s.value !== undefined && (typeof s.value !== 'string' || !SYSCTL_VALUE.test(s.value))) refuse(`sysctl ${s.path} value`, s.value, 'a short value on one line');
}

export function checkNftTable(t: NftTableRef): void {
  if (!NFT_FAMILIES.has(t.family)) refuse('nftables family', t.family, `one of ${[...NFT_FAMILIES].join(', ')}`);
  if (typeof t.name !== 'string' || !NFT_NAME.test(t.name)) refuse('nftables table name', t.name, 'a table name');
}

export function checkNsRef(ns: NsRef): void {
  checkNsPath(`namespace ${JSON.stringify(ns.key)} path`, ns.path);
}

function checkWork(w: NsWork): void {
  checkNsRef(w.ns);
  for (const op of w.ip) checkIpOp(op);
  for (const op of w.fdb ?? []) checkFdbOp(op);
  for (const s of w.sysctls) checkSysctl(s);
}

/**
 * Every token of a program, before any of it runs: a refusal then leaves the kernel untouched.
 * Throws KernelInputError.
 */
export function checkProgram(p: KernelProgram): void {
  for (const n of [...p.netnsAdd, ...p.netnsDelete]) checkNetnsName('netns', n);
  for (const w of [p.host, ...(p.early ?? []), ...p.containers]) checkWork(w);
  for (const f of p.files.write) {
    if (!ETC_NETNS_FILE.test(f.path)) refuse('file path', f.path, 'a file under /etc/netns/NAME');
    if (typeof f.content !== 'string' || !FILE_TEXT.test(f.content.replace(/[\t\n]/g, ''))) refuse(`content of ${f.path}`, f.content.slice(0, 200), 'printable text');
  }
  for (const f of p.files.remove) if (!ETC_NETNS_FILE.test(f)) refuse('file path', f, 'a file under /etc/netns/NAME');
  for (const d of p.files.removeDirs) if (!ETC_NETNS_DIR.test(d)) refuse('folder', d, 'a folder /etc/netns/NAME');
  for (const g of p.awaitGone) {
    checkNsRef(g.ns);
    for (const l of g.links) checkIfname('link', l);
  }
}
