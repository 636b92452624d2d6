import { InternalError } from '../../errors.js';
import type { FdbOp, IpOp } from '../types.js';
import { checkIfName, parseCidr, parseIp, parseMac } from './addresses.js';
import type { Attr } from './rtnl-codec.js';
import { attr, encodeAttrs, ifaddrmsg, ifinfomsg, ndmsg, rtmsg } from './rtnl-codec.js';
import { AF, IFLA, NL, RTA } from './rtnl-constants.js';

/**
 * Typed operations (IpOp, FdbOp) as rtnetlink requests: the same effect as the `ip`/`bridge`
 * lines of ip-render.ts, as binary attributes (nothing in a value can become another command).
 * Every name, MAC and address is checked before it is encoded. Pure but for `Resolve`.
 */

/** What a request needs from the namespace it is sent in. */
export interface Resolve {
  /** The ifindex of a link in the namespace; throws when there is none. */
  ifindex(name: string): number;
  /** An open descriptor of a namespace named as `ip ... netns X` names it (a name or a pid). */
  netnsFd(netns: string): number;
}

export interface Request {
  type: number;
  flags: number;
  fixed: Buffer;
  attrs: Attr[];
}

const CREATE = NL.NLM_F_CREATE | NL.NLM_F_EXCL | NL.NLM_F_ACK;
const MACVLAN_MODES: Record<string, number> = {
  private: IFLA.MACVLAN_MODE_PRIVATE,
  vepa: IFLA.MACVLAN_MODE_VEPA,
  bridge: IFLA.MACVLAN_MODE_BRIDGE,
  passthru: IFLA.MACVLAN_MODE_PASSTHRU,
  source: IFLA.MACVLAN_MODE_SOURCE,
};
const SCOPE_NOWHERE = 255;
const IFLA_PROTINFO_BRPORT_KIND = 'bridge';

const family = (f: 4 | 6) => (f === 4 ? AF.AF_INET : AF.AF_INET6);
const name = (n: string, what: string) => attr.str(IFLA.IFLA_IFNAME, checkIfName(n, what));
const kind = (k: string, data?: Attr[]) => attr.nest(IFLA.IFLA_LINKINFO, [attr.str(IFLA.IFLA_INFO_KIND, k), ...(data ? [attr.nest(IFLA.IFLA_INFO_DATA, data)] : [])]);

function mtu(v: number, what: string): Attr {
  if (!Number.isInteger(v) || v < 68 || v > 65535) throw new InternalError(`${what}: mtu ${v} is out of range`);
  return attr.u32(IFLA.IFLA_MTU, v);
}

function addrGenMode(mode: 'none' | 'eui64'): Attr {
  return attr.nest(IFLA.IFLA_AF_SPEC, [attr.nest(AF.AF_INET6, [attr.u8(IFLA.IFLA_INET6_ADDR_GEN_MODE, mode === 'none' ? IFLA.IN6_ADDR_GEN_MODE_NONE : IFLA.IN6_ADDR_GEN_MODE_EUI64)])]);
}

/**
 * The requests for one ip operation, in order. Usually one; a link-set that both brings a link up
 * and sets its IPv6 address generation mode is two: the kernel applies IFLA_AF_SPEC after the
 * flags of the same message, so the link would come up in the old mode and keep the fe80 address
 * that mode `none` exists to avoid (`ip link set X addrgenmode none up` sends two as well).
 */
export function ipRequests(op: IpOp, r: Resolve, alias?: string): Request[] {
  if (op.op === 'link-set' && op.up === true && op.addrgenmode !== undefined) {
    const { up: _up, ...rest } = op;
    return [ipRequest(rest, r, alias), ipRequest({ op: 'link-set', name: op.name, up: true, what: op.what }, r)];
  }
  return [ipRequest(op, r, alias)];
}

/** The request for one ip operation. `alias` tags a link in the same message that creates it. */
export function ipRequest(op: IpOp, r: Resolve, alias?: string): Request {
  const w = op.what;
  const tag = alias !== undefined ? [attr.raw(IFLA.IFLA_IFALIAS, alias)] : [];
  switch (op.op) {
    case 'link-add-bridge':
      return { type: NL.RTM_NEWLINK, flags: CREATE, fixed: ifinfomsg(), attrs: [name(op.name, w), mtu(op.mtu, w), ...tag, kind('bridge')] };
    case 'link-add-veth': {
      const p = op.peer;
      // The peer's own ifinfomsg and attributes: created straight inside its namespace.
      const peer = Buffer.concat([ifinfomsg(), encodeAttrs([name(p.name, w), attr.u32(IFLA.IFLA_NET_NS_FD, r.netnsFd(p.netns)), attr.bytes(IFLA.IFLA_ADDRESS, parseMac(p.mac, w)), mtu(p.mtu, w)])]);
      const attrs = [name(op.name, w), mtu(op.mtu, w), ...tag];
      if (op.master) attrs.push(attr.u32(IFLA.IFLA_MASTER, r.ifindex(checkIfName(op.master, w))));
      attrs.push(kind('veth', [attr.bytes(IFLA.VETH_INFO_PEER, peer)]));
      return { type: NL.RTM_NEWLINK, flags: CREATE, fixed: ifinfomsg(), attrs };
    }
    case 'link-set': {
      const attrs: Attr[] = [name(op.name, w)];
      if (op.mac !== undefined) attrs.push(attr.bytes(IFLA.IFLA_ADDRESS, parseMac(op.mac, w)));
      if (op.mtu !== undefined) attrs.push(mtu(op.mtu, w));
      if (op.master !== undefined) attrs.push(attr.u32(IFLA.IFLA_MASTER, op.master === null ? 0 : r.ifindex(checkIfName(op.master, w))));
      if (op.alias !== undefined) attrs.push(attr.raw(IFLA.IFLA_IFALIAS, op.alias));
      if (op.addrgenmode !== undefined) attrs.push(addrGenMode(op.addrgenmode));
      if (op.hairpin !== undefined) {
        attrs.push(attr.nest(IFLA.IFLA_LINKINFO, [attr.str(IFLA.IFLA_INFO_SLAVE_KIND, IFLA_PROTINFO_BRPORT_KIND), attr.nest(IFLA.IFLA_INFO_SLAVE_DATA, [attr.u8(IFLA.IFLA_BRPORT_MODE, op.hairpin ? IFLA.BRIDGE_MODE_HAIRPIN : 0)])]));
      }
      const up = op.up === undefined ? {} : { flags: op.up ? NL.IFF_UP : 0, change: NL.IFF_UP };
      return { type: NL.RTM_NEWLINK, flags: NL.NLM_F_ACK, fixed: ifinfomsg(up), attrs };
    }
    case 'link-add-vxlan': {
      const data: Attr[] = [attr.u32(IFLA.IFLA_VXLAN_ID, op.vni)];
      if (op.local) {
        const l = parseIp(op.local, w);
        data.push(attr.bytes(l.family === 4 ? IFLA.IFLA_VXLAN_LOCAL : IFLA.IFLA_VXLAN_LOCAL6, l.bytes));
      }
      data.push(attr.be16(IFLA.IFLA_VXLAN_PORT, op.dstport), attr.u8(IFLA.IFLA_VXLAN_LEARNING, op.learning ? 1 : 0), attr.u8(IFLA.IFLA_VXLAN_PROXY, op.proxy ? 1 : 0));
      if (!Number.isInteger(op.vni) || op.vni < 0 || op.vni >= 1 << 24 || !Number.isInteger(op.dstport) || op.dstport < 0 || op.dstport > 65535) throw new InternalError(`${w}: vni ${op.vni} or port ${op.dstport} out of range`);
      return { type: NL.RTM_NEWLINK, flags: CREATE, fixed: ifinfomsg(), attrs: [name(op.name, w), mtu(op.mtu, w), ...tag, kind('vxlan', data)] };
    }
    case 'link-add-vlan':
      if (!Number.isInteger(op.vlanId) || op.vlanId < 0 || op.vlanId > 4094) throw new InternalError(`${w}: vlan id ${op.vlanId} out of range`);
      return { type: NL.RTM_NEWLINK, flags: CREATE, fixed: ifinfomsg(), attrs: [name(op.name, w), attr.u32(IFLA.IFLA_LINK, r.ifindex(checkIfName(op.parent, w))), ...tag, kind('vlan', [attr.u16(IFLA.IFLA_VLAN_ID, op.vlanId)])] };
    case 'link-add-macvlan': {
      const mode = MACVLAN_MODES[op.mode];
      if (mode === undefined) throw new InternalError(`${w}: macvlan mode ${JSON.stringify(op.mode)} is unknown`);
      const attrs = [name(op.name, w), attr.u32(IFLA.IFLA_LINK, r.ifindex(checkIfName(op.parent, w))), attr.bytes(IFLA.IFLA_ADDRESS, parseMac(op.mac, w)), mtu(op.mtu, w), attr.u32(IFLA.IFLA_NET_NS_FD, r.netnsFd(op.netns)), ...tag, kind('macvlan', [attr.u32(IFLA.IFLA_MACVLAN_MODE, mode)])];
      return { type: NL.RTM_NEWLINK, flags: CREATE, fixed: ifinfomsg(), attrs };
    }
    case 'link-del':
      return { type: NL.RTM_DELLINK, flags: NL.NLM_F_ACK, fixed: ifinfomsg(), attrs: [name(op.name, w)] };
    case 'link-move':
      // Found by index, so IFLA_IFNAME can carry the new name (applied inside the new namespace).
      return {
        type: NL.RTM_NEWLINK,
        flags: NL.NLM_F_ACK,
        fixed: ifinfomsg({ index: r.ifindex(checkIfName(op.name, w)) }),
        attrs: [attr.u32(IFLA.IFLA_NET_NS_FD, r.netnsFd(op.netns)), name(op.newName, w)],
      };
    case 'neigh-replace':
    case 'neigh-del': {
      const dst = parseIp(op.address, w);
      const index = r.ifindex(checkIfName(op.dev, w));
      if (op.op === 'neigh-del') return { type: NL.RTM_DELNEIGH, flags: NL.NLM_F_ACK, fixed: ndmsg({ family: family(dst.family), index }), attrs: [attr.bytes(RTA.NDA_DST, dst.bytes)] };
      return {
        type: NL.RTM_NEWNEIGH,
        flags: NL.NLM_F_CREATE | NL.NLM_F_REPLACE | NL.NLM_F_ACK,
        fixed: ndmsg({ family: family(dst.family), index, state: RTA.NUD_PERMANENT }),
        attrs: [attr.bytes(RTA.NDA_DST, dst.bytes), attr.bytes(RTA.NDA_LLADDR, parseMac(op.lladdr, w)), attr.u8(RTA.NDA_PROTOCOL, protocol(op.proto, w))],
      };
    }
    case 'addr-add':
    case 'addr-replace':
    case 'addr-del': {
      const a = parseCidr(op.cidr, undefined, w);
      const flags = op.nodad ? RTA.IFA_F_NODAD : 0;
      const fixed = ifaddrmsg({ family: family(a.family), prefixlen: a.len, flags, index: r.ifindex(checkIfName(op.dev, w)) });
      const attrs = [attr.bytes(RTA.IFA_LOCAL, a.bytes), attr.bytes(RTA.IFA_ADDRESS, a.bytes)];
      if (op.op === 'addr-del') return { type: NL.RTM_DELADDR, flags: NL.NLM_F_ACK, fixed, attrs };
      // As ip does: the flags also as IFA_FLAGS (the kernel takes that over the 8-bit field); a
      // replace sets them on an address that exists, so a dropped nodad is put back in place.
      attrs.push(attr.u32(RTA.IFA_FLAGS, flags));
      return { type: NL.RTM_NEWADDR, flags: op.op === 'addr-add' ? CREATE : NL.NLM_F_CREATE | NL.NLM_F_REPLACE | NL.NLM_F_ACK, fixed, attrs };
    }
    case 'route-replace':
    case 'route-del': {
      const dst = parseCidr(op.dst, op.family, w);
      const attrs: Attr[] = [];
      if (dst.len > 0) attrs.push(attr.bytes(RTA.RTA_DST, dst.bytes));
      if (op.via) {
        const gw = parseIp(op.via, w);
        if (gw.family !== op.family) throw new InternalError(`${w}: gateway ${op.via} is not IPv${op.family}`);
        attrs.push(attr.bytes(RTA.RTA_GATEWAY, gw.bytes));
      }
      attrs.push(attr.u32(RTA.RTA_OIF, r.ifindex(checkIfName(op.dev, w))));
      const proto = protocol(op.proto, w);
      // As ip route does: a delete matches any scope; a route without a gateway is on-link.
      if (op.op === 'route-del') return { type: NL.RTM_DELROUTE, flags: NL.NLM_F_ACK, fixed: rtmsg({ family: family(op.family), dstLen: dst.len, table: RTA.RT_TABLE_MAIN, protocol: proto, scope: SCOPE_NOWHERE }), attrs };
      const scope = op.via ? RTA.RT_SCOPE_UNIVERSE : RTA.RT_SCOPE_LINK;
      return {
        type: NL.RTM_NEWROUTE,
        flags: NL.NLM_F_CREATE | NL.NLM_F_REPLACE | NL.NLM_F_ACK,
        fixed: rtmsg({ family: family(op.family), dstLen: dst.len, table: RTA.RT_TABLE_MAIN, protocol: proto, scope, type: RTA.RTN_UNICAST }),
        attrs,
      };
    }
  }
}

/** The request for one forwarding-table operation on a VXLAN device (bridge fdb ... self). */
export function fdbRequest(op: FdbOp, r: Resolve): Request {
  const w = op.what;
  const dst = parseIp(op.dst, w);
  const attrs = [attr.bytes(RTA.NDA_LLADDR, parseMac(op.mac, w)), attr.bytes(RTA.NDA_DST, dst.bytes)];
  const index = r.ifindex(checkIfName(op.dev, w));
  if (op.op === 'fdb-del') return { type: NL.RTM_DELNEIGH, flags: NL.NLM_F_ACK, fixed: ndmsg({ family: AF.AF_BRIDGE, index, flags: RTA.NTF_SELF }), attrs };
  // "append" adds another destination for the same MAC (one per peer); an identical one is accepted.
  return { type: NL.RTM_NEWNEIGH, flags: NL.NLM_F_CREATE | NL.NLM_F_APPEND | NL.NLM_F_ACK, fixed: ndmsg({ family: AF.AF_BRIDGE, index, state: RTA.NUD_PERMANENT, flags: RTA.NTF_SELF }), attrs };
}

function protocol(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 0 || p > 255) throw new InternalError(`${what}: route protocol ${p} out of range`);
  return p;
}
