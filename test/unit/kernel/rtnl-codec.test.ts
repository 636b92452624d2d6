import { describe, expect, it } from 'vitest';
import { InternalError } from '../../../src/errors.js';
import type { IpOp } from '../../../src/kernel/index.js';
import { checkIfName, formatIPv6, parseCidr, parseIPv6, parseMac } from '../../../src/kernel/inproc/addresses.js';
import { withBirthTags } from '../../../src/kernel/inproc/ns-engine.js';
import { attr, encodeMessage, ifaddrmsg, ifinfomsg, parseAttrs, splitMessages } from '../../../src/kernel/inproc/rtnl-codec.js';
import { AF, IFLA, NL, RTA } from '../../../src/kernel/inproc/rtnl-constants.js';
import type { Resolve } from '../../../src/kernel/inproc/rtnl-requests.js';
import { fdbRequest, ipRequest, ipRequests } from '../../../src/kernel/inproc/rtnl-requests.js';
import { decodeAddresses, decodeLinks } from '../../../src/kernel/inproc/rtnl-snapshot.js';

const resolve: Resolve = { ifindex: (n) => (n === 'br0' ? 7 : 3), netnsFd: () => 99 };
const what = 'testing';

describe('addresses as iproute2 prints them', () => {
  it.each([
    ['2001:db8::1', '2001:db8::1'],
    ['::1', '::1'],
    ['::', '::'],
    ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['2001:0:1:2:3:4:5:6', '2001:0:1:2:3:4:5:6'],
    ['::ffff:198.18.0.1', '::ffff:198.18.0.1'],
  ])('%s prints as %s', (input, printed) => {
    const b = parseIPv6(input);
    expect(b).toBeDefined();
    expect(formatIPv6(b!)).toBe(printed);
  });

  it('refuses what is not an address, a prefix or a MAC', () => {
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1.2.3.4 ', ':1']) expect(parseIPv6(bad)).toBeUndefined();
    expect(() => parseCidr('10.0.0.0/33', 4, what)).toThrow(InternalError);
    expect(() => parseCidr('10.0.0.256/24', undefined, what)).toThrow(InternalError);
    expect(() => parseCidr('2001:db8::/64', 4, what)).toThrow(InternalError);
    expect(() => parseMac('02:42:ac:11:00', what)).toThrow(InternalError);
    expect(() => parseMac('02:42:ac:11:00:0g', what)).toThrow(InternalError);
    expect(parseCidr('default', 6, what)).toMatchObject({ family: 6, len: 0 });
    expect(parseCidr('10.8.0.5', undefined, what)).toMatchObject({ family: 4, len: 32 });
  });

  it('accepts only interface names the kernel accepts (dev_valid_name)', () => {
    for (const ok of ['eth0', 'br-0123456789ab', 'a'.repeat(15), 'vx.50']) expect(checkIfName(ok, what)).toBe(ok);
    for (const bad of ['', 'a'.repeat(16), 'a/b', 'a b', 'a\tb', 'a\nb', '.', '..', 'eth0:1', 'é'.repeat(8)]) expect(() => checkIfName(bad, what)).toThrow(InternalError);
  });
});

describe('rtnetlink requests', () => {
  const veth: IpOp = { op: 'link-add-veth', name: 'veth1', mtu: 1500, master: 'br0', peer: { name: 'eth0', netns: 'c1', mac: '02:42:ac:11:00:02', mtu: 1500 }, what };

  it('a veth is created with its peer inside the container namespace, its master and its tag in one message', () => {
    const req = ipRequest(veth, resolve, 'weft:tag');
    expect(req.type).toBe(NL.RTM_NEWLINK);
    expect(req.flags & (NL.NLM_F_CREATE | NL.NLM_F_EXCL | NL.NLM_F_ACK)).toBe(NL.NLM_F_CREATE | NL.NLM_F_EXCL | NL.NLM_F_ACK);
    const msg = splitMessages(encodeMessage(req.type, req.flags, 1, req.fixed, req.attrs), 4096)[0]!;
    const a = parseAttrs(msg.body, 16);
    expect(a.get(IFLA.IFLA_IFNAME)?.toString()).toBe('veth1\0');
    expect(a.get(IFLA.IFLA_IFALIAS)?.toString()).toBe('weft:tag');
    expect(a.get(IFLA.IFLA_MASTER)?.readUInt32LE(0)).toBe(7);
    const info = parseAttrs(a.get(IFLA.IFLA_LINKINFO)!);
    expect(info.get(IFLA.IFLA_INFO_KIND)?.toString()).toBe('veth\0');
    const peer = parseAttrs(info.get(IFLA.IFLA_INFO_DATA)!).get(IFLA.VETH_INFO_PEER)!;
    const pa = parseAttrs(peer, 16);
    expect(pa.get(IFLA.IFLA_IFNAME)?.toString()).toBe('eth0\0');
    expect(pa.get(IFLA.IFLA_NET_NS_FD)?.readUInt32LE(0)).toBe(99);
    expect([...pa.get(IFLA.IFLA_ADDRESS)!]).toEqual([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
  });

  it('a moved link is found by index and renamed in the same message', () => {
    const req = ipRequest({ op: 'link-move', name: 'tpc1234', netns: 'c1', newName: 'eth3', what }, resolve);
    expect(req.type).toBe(NL.RTM_NEWLINK);
    expect(req.fixed.readInt32LE(4)).toBe(3);
    const a = parseAttrs(splitMessages(encodeMessage(req.type, req.flags, 1, req.fixed, req.attrs), 4096)[0]!.body, 16);
    expect(a.get(IFLA.IFLA_IFNAME)?.toString()).toBe('eth3\0');
    expect(a.get(IFLA.IFLA_NET_NS_FD)?.readUInt32LE(0)).toBe(99);
  });

  it('refuses hostile names, MACs and addresses before anything reaches the kernel', () => {
    const hostile: IpOp[] = [
      { op: 'link-add-bridge', name: 'br0\nlink del eth0', mtu: 1500, what },
      { op: 'link-add-bridge', name: '../../etc', mtu: 1500, what },
      { ...veth, peer: { ...veth.peer, name: 'eth 0' } } as IpOp,
      { ...veth, peer: { ...veth.peer, mac: '02:42:ac:11:00:02 up' } } as IpOp,
      { op: 'addr-add', dev: 'eth0', cidr: '10.0.0.2/24 dev lo', what },
      { op: 'route-replace', family: 4, dst: '10.0.0.0/8', via: '2001:db8::1', dev: 'eth0', proto: 250, what },
      { op: 'neigh-replace', dev: 'vx0', address: '10.0.0.3', lladdr: 'zz:42:ac:11:00:02', proto: 250, what },
      { op: 'link-add-macvlan', name: 'mv0', parent: 'eth0', mode: 'bridge; rm', mac: '02:42:ac:11:00:02', mtu: 1500, netns: 'c1', what },
      { op: 'link-move', name: 'tpc1234', netns: 'c1', newName: 'eth0 up', what },
    ];
    for (const op of hostile) expect(() => ipRequest(op, resolve), JSON.stringify(op)).toThrow(InternalError);
    expect(() => fdbRequest({ op: 'fdb-append', dev: 'vx0', mac: '00:00:00:00:00:00', dst: '198.18.0.2 self', what }, resolve)).toThrow(InternalError);
  });

  it('adds an IPv6 address with nodad in both flag fields; a replace sets the flags of one that exists', () => {
    const add = ipRequest({ op: 'addr-add', dev: 'eth0', cidr: 'fd31:1::10/64', nodad: true, what }, resolve);
    expect(add.type).toBe(NL.RTM_NEWADDR);
    expect(add.flags & NL.NLM_F_EXCL).toBe(NL.NLM_F_EXCL);
    expect(add.fixed.readUInt8(2)).toBe(RTA.IFA_F_NODAD);
    const flags = (req: typeof add) => parseAttrs(encodeAttrsOf(req), 0).get(RTA.IFA_FLAGS)?.readUInt32LE(0);
    expect(flags(add)).toBe(RTA.IFA_F_NODAD);
    const replace = ipRequest({ op: 'addr-replace', dev: 'eth0', cidr: 'fd31:1::10/64', nodad: true, what }, resolve);
    expect(replace.flags & (NL.NLM_F_REPLACE | NL.NLM_F_EXCL)).toBe(NL.NLM_F_REPLACE);
    expect(flags(replace)).toBe(RTA.IFA_F_NODAD);
    expect(flags(ipRequest({ op: 'addr-add', dev: 'eth0', cidr: '172.17.0.2/16', what }, resolve))).toBe(0);
  });

  it('sets the address generation mode before bringing a link up (one message would bring it up first and keep an fe80 address)', () => {
    const op: IpOp = { op: 'link-set', name: 'eth0', up: true, addrgenmode: 'none', what: 'test' };
    const reqs = ipRequests(op, resolve);
    expect(reqs).toHaveLength(2);
    const change = (b: Buffer) => b.readUInt32LE(12);
    // ifinfomsg: the first changes no flag and carries IFLA_AF_SPEC; the second only brings the link up.
    expect(change(reqs[0]!.fixed)).toBe(0);
    expect(reqs[0]!.attrs.some((a) => a.type === IFLA.IFLA_AF_SPEC)).toBe(true);
    expect(change(reqs[1]!.fixed)).toBe(NL.IFF_UP);
    expect(reqs[1]!.attrs.some((a) => a.type === IFLA.IFLA_AF_SPEC)).toBe(false);
    expect(ipRequests({ op: 'link-set', name: 'eth0', up: true, what: 'test' }, resolve)).toHaveLength(1);
  });

  it('tags a link in the message that creates it when the next operation tags it', () => {
    const ops: IpOp[] = [
      { op: 'link-add-bridge', name: 'br0', mtu: 1500, what },
      { op: 'link-set', name: 'br0', alias: 'weft:net', up: true, what },
      { op: 'link-add-bridge', name: 'br1', mtu: 1500, what },
      { op: 'link-set', name: 'br2', alias: 'weft:other', what },
    ];
    expect(withBirthTags(ops).map((x) => x.alias)).toEqual(['weft:net', undefined, undefined, undefined]);
  });
});

describe('decoding a link dump', () => {
  const link = (index: number, name: string, extra: ReturnType<typeof attr.u32>[]) =>
    encodeMessage(NL.RTM_NEWLINK, NL.NLM_F_MULTI, 1, ifinfomsg({ index, flags: NL.IFF_UP }), [attr.str(IFLA.IFLA_IFNAME, name), attr.u32(IFLA.IFLA_MTU, 1500), ...extra]);

  it('names masters from the dump, keeps aliases, and gives a peer index only with its nsid (as ip -j does)', () => {
    const buf = Buffer.concat([
      link(2, 'br0', [attr.raw(IFLA.IFLA_IFALIAS, 'weft:x'), attr.nest(IFLA.IFLA_LINKINFO, [attr.str(IFLA.IFLA_INFO_KIND, 'bridge')])]),
      link(3, 'veth1', [attr.u32(IFLA.IFLA_MASTER, 2), attr.u32(IFLA.IFLA_LINK, 5), attr.u32(IFLA.IFLA_LINK_NETNSID, 0)]),
      link(4, 'veth2', [attr.u32(IFLA.IFLA_LINK, 3)]),
    ]);
    const links = decodeLinks(splitMessages(buf, buf.length));
    expect(links).toEqual([
      { ifindex: 2, name: 'br0', mtu: 1500, mac: '', up: true, kind: 'bridge', alias: 'weft:x' },
      { ifindex: 3, name: 'veth1', mtu: 1500, mac: '', up: true, master: 'br0', linkIndex: 5, linkNetnsId: 0 },
      { ifindex: 4, name: 'veth2', mtu: 1500, mac: '', up: true },
    ]);
  });
});

describe('decoding an address dump', () => {
  const addr = (flags: number, extra: ReturnType<typeof attr.u32>[]) =>
    encodeMessage(NL.RTM_NEWADDR, NL.NLM_F_MULTI, 1, ifaddrmsg({ family: AF.AF_INET6, prefixlen: 64, flags, index: 3 }), [attr.bytes(RTA.IFA_ADDRESS, parseIPv6('fd31:1::10')!), ...extra]);
  const links = [{ ifindex: 3, name: 'eth0', mtu: 1500, mac: '', up: true }];

  it('reads nodad from IFA_FLAGS, or from the 8-bit field without it (as ip does)', () => {
    const decode = (buf: Buffer) => decodeAddresses(splitMessages(buf, buf.length), links);
    expect(decode(addr(0, [attr.u32(RTA.IFA_FLAGS, RTA.IFA_F_NODAD)]))[0]).toMatchObject({ local: 'fd31:1::10', nodad: true });
    expect(decode(addr(RTA.IFA_F_NODAD, []))[0]).toMatchObject({ nodad: true });
    expect(decode(addr(RTA.IFA_F_NODAD, [attr.u32(RTA.IFA_FLAGS, 0)]))[0]).not.toHaveProperty('nodad');
  });
});

/** A request's attributes as the bytes the kernel receives after the fixed struct. */
function encodeAttrsOf(req: ReturnType<typeof ipRequest>): Buffer {
  const msg = splitMessages(encodeMessage(req.type, req.flags, 1, req.fixed, req.attrs), 4096)[0]!;
  return msg.body.subarray(req.fixed.length);
}

describe('hostile replies', () => {
  it('random and truncated datagrams never throw while decoding', async () => {
    const { decodeAddresses, decodeFdb, decodeNeighbours, decodeRoutes } = await import('../../../src/kernel/inproc/rtnl-snapshot.js');
    const { parseError } = await import('../../../src/kernel/inproc/rtnl-codec.js');
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 500; i++) {
      const body = Buffer.from(Array.from({ length: rand() % 96 }, rand));
      // A plausible header, so the decoders get past the framing into the attributes.
      const type = [NL.RTM_NEWLINK, NL.RTM_NEWADDR, NL.RTM_NEWROUTE, NL.RTM_NEWNEIGH, NL.NLMSG_ERROR][i % 5]!;
      const msg = Buffer.concat([Buffer.alloc(16), body]);
      msg.writeUInt32LE(msg.length, 0);
      msg.writeUInt16LE(type, 4);
      const msgs = splitMessages(msg, msg.length - (i % 3));
      const links = decodeLinks(msgs);
      decodeAddresses(msgs, links);
      decodeRoutes(msgs, links);
      decodeNeighbours(msgs, links);
      decodeFdb(msgs, [{ ifindex: body.length >= 8 ? body.readInt32LE(4) : 0, name: 'vx', kind: 'vxlan', mtu: 0, mac: '', up: true }]);
      for (const m of msgs.filter((x) => x.type === NL.NLMSG_ERROR)) parseError(m);
    }
  });
});
