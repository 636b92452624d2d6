import { describe, expect, it } from 'vitest';
import { parseAddresses, parseLinks, parseRoutes, renderIpOp } from '../../../src/kernel/index.js';

describe('ip -batch rendering', () => {
  it('creates veths straight into the peer namespace', () => {
    expect(renderIpOp({ op: 'link-add-veth', name: 'veth1234567', mtu: 1500, master: 'docker0', peer: { name: 'eth0', netns: 'h-c1', mac: '02:42:ac:11:00:02', mtu: 1500 }, what: '' }))
      .toBe('link add veth1234567 mtu 1500 master docker0 type veth peer name eth0 netns h-c1 address 02:42:ac:11:00:02 mtu 1500');
  });
  it('sets addrgenmode before up and quotes aliases', () => {
    expect(renderIpOp({ op: 'link-set', name: 'eth0', addrgenmode: 'none', up: true, alias: 'weft:ctr=a;net="x"', what: '' }))
      .toBe('link set dev eth0 addrgenmode none alias "weft:ctr=a;net=\\"x\\"" up');
  });
  it('adds IPv6 addresses without duplicate-address detection, and replaces flags in place', () => {
    expect(renderIpOp({ op: 'addr-add', dev: 'eth0', cidr: 'fd31:1::10/64', nodad: true, what: '' })).toBe('addr add fd31:1::10/64 dev eth0 nodad');
    expect(renderIpOp({ op: 'addr-replace', dev: 'eth0', cidr: 'fd31:1::10/64', nodad: true, what: '' })).toBe('addr replace fd31:1::10/64 dev eth0 nodad');
    expect(renderIpOp({ op: 'addr-add', dev: 'eth0', cidr: '172.17.0.2/16', what: '' })).toBe('addr add 172.17.0.2/16 dev eth0');
  });
  it('writes IPv6 default routes as ::/0', () => {
    expect(renderIpOp({ op: 'route-replace', family: 6, dst: 'default', via: 'fd00::1', dev: 'eth0', proto: 250, what: '' })).toBe('route replace ::/0 via fd00::1 dev eth0 proto 250');
  });
});

describe('ip -j parsing', () => {
  const links = [
    { ifindex: 3, link_index: 2, ifname: 'vh1', ifalias: 'weft:ctr=c;net=n', flags: ['BROADCAST', 'UP'], mtu: 1400, master: 'br0', address: '46:5b:59:57:2c:8e', link_netnsid: 0, inet6_addr_gen_mode: 'eui64', linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { hairpin: false } } },
    { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK'], mtu: 65536, address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
  ];
  it('reads links with kind, alias, master and peer index', () => {
    expect(parseLinks(links)[0]).toEqual({
      ifindex: 3, name: 'vh1', kind: 'veth', alias: 'weft:ctr=c;net=n', mtu: 1400, mac: '46:5b:59:57:2c:8e', up: true, master: 'br0',
      linkIndex: 2, linkNetnsId: 0, addrgenmode: 'eui64', slaveInfo: { hairpin: false },
    });
    expect(parseLinks(links)[1]).toMatchObject({ name: 'lo', up: false });
  });
  it('reads addresses and routes', () => {
    expect(parseAddresses(links)).toEqual([{ dev: 'lo', family: 4, local: '127.0.0.1', prefixlen: 8, scope: 'host' }]);
    const v6 = [{ ifname: 'eth0', addr_info: [{ family: 'inet6', local: 'fd31:1::10', prefixlen: 64, scope: 'global', nodad: true }, { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link', tentative: true }] }];
    expect(parseAddresses(v6)).toEqual([
      { dev: 'eth0', family: 6, local: 'fd31:1::10', prefixlen: 64, scope: 'global', nodad: true },
      { dev: 'eth0', family: 6, local: 'fe80::1', prefixlen: 64, scope: 'link' },
    ]);
    expect(parseRoutes([{ type: 'unicast', dst: 'default', gateway: '172.17.0.1', dev: 'eth0', protocol: '250', flags: [] }, { dst: 'default', gateway: 'fd00::1', dev: 'eth0', table: 'main', protocol: '250' }]))
      .toEqual([
        { family: 4, dst: 'default', gateway: '172.17.0.1', dev: 'eth0', protocol: '250', table: 'main', type: 'unicast' },
        { family: 6, dst: 'default', gateway: 'fd00::1', dev: 'eth0', protocol: '250', table: 'main', type: 'unicast' },
      ]);
  });
});
