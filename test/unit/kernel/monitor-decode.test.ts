import { describe, expect, it } from 'vitest';
import { CarrierFilter, isNoise } from '../../../src/kernel/monitor.js';
import { decodeRtnl, NftGenerations } from '../../../src/kernel/inproc/monitor-decode.js';
import { nsidOf } from '../../../src/kernel/inproc/nl-listener.js';
import type { Attr, NlMessage } from '../../../src/kernel/inproc/rtnl-codec.js';
import { attr, encodeMessage, ifaddrmsg, ifinfomsg, ndmsg, rtmsg, splitMessages } from '../../../src/kernel/inproc/rtnl-codec.js';
import { AF, IFLA, MON, NFT, NL, RTA } from '../../../src/kernel/inproc/rtnl-constants.js';

const msg = (type: number, fixed: Buffer, attrs: Attr[] = []): NlMessage => {
  const b = encodeMessage(type, 0, 0, fixed, attrs);
  return splitMessages(b, b.length)[0]!;
};
const link = (type: number, flags: number, extra: Attr[] = [], family = 0) => msg(type, ifinfomsg({ family, index: 7, flags }), [attr.str(IFLA.IFLA_IFNAME, 'veth1'), attr.u32(IFLA.IFLA_MTU, 1500), ...extra]);
const nft = (m: number, attrs: Attr[]) => msg((NFT.NFNL_SUBSYS_NFTABLES << 8) | m, Buffer.alloc(4), attrs);

describe('kernel notifications -> events (the netlink monitor)', () => {
  it('links: carrier and operstate changes alone are carrier-only; a real change is not', () => {
    const f = new CarrierFilter();
    const up = decodeRtnl(link(NL.RTM_NEWLINK, NL.IFF_UP), 3)!;
    expect(up).toMatchObject({ object: 'link', nsid: 3, ifindex: 7, deleted: false, noise: false });
    expect(f.carrierOnly(up)).toBe(false);
    // the kernel reports carrier (LOWER_UP, RUNNING) and an operstate a moment later
    const carrier = decodeRtnl(link(NL.RTM_NEWLINK, NL.IFF_UP | MON.IFF_LOWER_UP | MON.IFF_RUNNING, [attr.u8(MON.IFLA_OPERSTATE, 6)]), 3)!;
    expect(f.carrierOnly(carrier)).toBe(true);
    const mtu = decodeRtnl(msg(NL.RTM_NEWLINK, ifinfomsg({ index: 7, flags: NL.IFF_UP }), [attr.str(IFLA.IFLA_IFNAME, 'veth1'), attr.u32(IFLA.IFLA_MTU, 1400)]), 3)!;
    expect(f.carrierOnly(mtu)).toBe(false);
    // the same link in another namespace has a memory of its own
    expect(f.carrierOnly(decodeRtnl(link(NL.RTM_NEWLINK, NL.IFF_UP), 4)!)).toBe(false);
    const del = decodeRtnl(link(NL.RTM_DELLINK, 0), 3)!;
    expect(del.deleted).toBe(true);
    expect(f.carrierOnly(del)).toBe(false);
  });

  it('links: bridge port messages are remembered apart from link messages', () => {
    const f = new CarrierFilter();
    expect(f.carrierOnly(decodeRtnl(link(NL.RTM_NEWLINK, NL.IFF_UP), null)!)).toBe(false);
    const port = decodeRtnl(link(NL.RTM_NEWLINK, NL.IFF_UP, [], AF.AF_BRIDGE), null)!;
    expect(port.port).toBe(true);
    expect(f.carrierOnly(port)).toBe(false);
    expect(f.carrierOnly(port)).toBe(true);
  });

  it('addresses: IPv6 link-local is noise, the rest is not', () => {
    const v4 = decodeRtnl(msg(NL.RTM_DELADDR, ifaddrmsg({ family: AF.AF_INET, prefixlen: 16, index: 2 }), [attr.bytes(RTA.IFA_LOCAL, Buffer.from([172, 17, 0, 2]))]), 5)!;
    expect(v4).toMatchObject({ object: 'address', deleted: true, nsid: 5, line: 'dev 2 172.17.0.2/16' });
    expect(isNoise(v4)).toBe(false);
    const ll = Buffer.alloc(16);
    ll[0] = 0xfe;
    ll[1] = 0x80;
    expect(isNoise(decodeRtnl(msg(NL.RTM_NEWADDR, ifaddrmsg({ family: AF.AF_INET6, prefixlen: 64, index: 2 }), [attr.bytes(RTA.IFA_ADDRESS, ll)]), 5)!)).toBe(true);
  });

  it("routes: the kernel's own (proto kernel, table local, local/broadcast types) are noise; a default route is not", () => {
    const def = decodeRtnl(msg(NL.RTM_DELROUTE, rtmsg({ family: AF.AF_INET, table: RTA.RT_TABLE_MAIN, protocol: 4, type: RTA.RTN_UNICAST }), [attr.bytes(RTA.RTA_GATEWAY, Buffer.from([172, 17, 0, 1]))]), null)!;
    expect(def).toMatchObject({ object: 'route', deleted: true, nsid: null });
    expect(isNoise(def)).toBe(false);
    expect(isNoise(decodeRtnl(msg(NL.RTM_NEWROUTE, rtmsg({ family: AF.AF_INET, table: RTA.RT_TABLE_MAIN, protocol: MON.RTPROT_KERNEL, type: 1 })), null)!)).toBe(true);
    expect(isNoise(decodeRtnl(msg(NL.RTM_NEWROUTE, rtmsg({ family: AF.AF_INET, table: MON.RT_TABLE_LOCAL, protocol: 4, type: 2 })), null)!)).toBe(true);
  });

  it("neighbours: traffic's entries are noise; weft's permanent ones are not, also when deleted (reported failed, with weft's protocol)", () => {
    const dst = attr.bytes(RTA.NDA_DST, Buffer.from([10, 0, 9, 2]));
    expect(isNoise(decodeRtnl(msg(NL.RTM_NEWNEIGH, ndmsg({ family: AF.AF_INET, index: 3, state: RTA.NUD_REACHABLE }), [dst]), 1)!)).toBe(true);
    expect(isNoise(decodeRtnl(msg(NL.RTM_DELNEIGH, ndmsg({ family: AF.AF_INET, index: 3, state: RTA.NUD_FAILED }), [dst]), 1)!)).toBe(true);
    expect(isNoise(decodeRtnl(msg(NL.RTM_NEWNEIGH, ndmsg({ family: AF.AF_INET, index: 3, state: RTA.NUD_PERMANENT }), [dst]), 1)!)).toBe(false);
    expect(isNoise(decodeRtnl(msg(NL.RTM_DELNEIGH, ndmsg({ family: AF.AF_INET, index: 3, state: RTA.NUD_FAILED }), [dst, attr.u8(RTA.NDA_PROTOCOL, 4)]), 1)!)).toBe(false);
  });

  it("forwarding entries: a device's own permanent ones count; a bridge's learnt and local ones are noise", () => {
    const mac = attr.bytes(RTA.NDA_LLADDR, Buffer.from([2, 0, 0, 0, 0, 1]));
    const self = decodeRtnl(msg(NL.RTM_DELNEIGH, ndmsg({ family: AF.AF_BRIDGE, index: 9, state: RTA.NUD_PERMANENT, flags: RTA.NTF_SELF }), [mac]), null)!;
    expect(self.line).toMatch(/^fdb dev 9/);
    expect(isNoise(self)).toBe(false);
    expect(isNoise(decodeRtnl(msg(NL.RTM_NEWNEIGH, ndmsg({ family: AF.AF_BRIDGE, index: 9, state: RTA.NUD_PERMANENT, flags: RTA.NTF_MASTER }), [mac]), null)!)).toBe(true);
    expect(isNoise(decodeRtnl(msg(NL.RTM_NEWNEIGH, ndmsg({ family: AF.AF_BRIDGE, index: 9, state: RTA.NUD_REACHABLE, flags: RTA.NTF_SELF }), [mac]), null)!)).toBe(true);
  });

  it('other message types are not events; truncated bodies do not throw', () => {
    expect(decodeRtnl(msg(NL.NLMSG_DONE, Buffer.alloc(4)), null)).toBeUndefined();
    expect(decodeRtnl({ type: NL.RTM_NEWLINK, flags: 0, seq: 0, body: Buffer.alloc(3) }, null)).toBeUndefined();
    expect(decodeRtnl({ type: NL.RTM_NEWROUTE, flags: 0, seq: 0, body: Buffer.alloc(0) }, null)).toBeUndefined();
  });
});

describe('nftables commits -> one event per generation and namespace', () => {
  const pid = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return attr.bytes(NFT.NFTA_GEN_PROC_PID, b);
  };

  it("a generation touching a weft table is an event naming the committing process; others' tables are not", () => {
    const g = new NftGenerations();
    expect(g.push(nft(8 /* NFT_MSG_DELRULE */, [attr.str(NFT.NFTA_TABLE_NAME, 'weft')]), 2)).toBeUndefined();
    // another namespace's commit in between does not mix in
    expect(g.push(nft(NFT.NFT_MSG_NEWTABLE, [attr.str(NFT.NFTA_TABLE_NAME, 'docker')]), 3)).toBeUndefined();
    expect(g.push(nft(NFT.NFT_MSG_NEWGEN, [pid(77)]), 3)).toBeUndefined();
    const e = g.push(nft(NFT.NFT_MSG_NEWGEN, [pid(1234), attr.str(NFT.NFTA_GEN_PROC_NAME, 'nft')]), 2)!;
    expect(e).toMatchObject({ source: 'nft', object: 'nft', nsid: 2, deleted: true, pid: 1234, process: 'nft', line: 'tables weft' });
    expect(isNoise(e)).toBe(false);
  });

  it('messages of other netfilter subsystems are ignored', () => {
    const g = new NftGenerations();
    expect(g.push({ type: (1 << 8) | 0, flags: 0, seq: 0, body: Buffer.alloc(8) }, null)).toBeUndefined();
    expect(g.push(nft(NFT.NFT_MSG_NEWGEN, [pid(1)]), null)).toBeUndefined();
  });
});

describe('nsidOf: the nsid in recvmsg control data', () => {
  const cmsg = (level: number, type: number, value: number) => {
    const b = Buffer.alloc(24);
    b.writeBigUInt64LE(20n, 0);
    b.writeInt32LE(level, 8);
    b.writeInt32LE(type, 12);
    b.writeInt32LE(value, 16);
    return b;
  };
  it('finds NETLINK_LISTEN_ALL_NSID among control messages; none means the socket\'s own namespace', () => {
    const both = Buffer.concat([cmsg(1, 99, 5), cmsg(270, NL.NETLINK_LISTEN_ALL_NSID, 12)]);
    expect(nsidOf(both, both.length)).toBe(12);
    expect(nsidOf(both, 24)).toBeNull();
    expect(nsidOf(Buffer.alloc(0), 0)).toBeNull();
    // a malformed length ends the walk instead of looping
    expect(nsidOf(Buffer.alloc(32), 32)).toBeNull();
  });
});
