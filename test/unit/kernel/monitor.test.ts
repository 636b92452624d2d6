import { describe, expect, it } from 'vitest';
import { CarrierFilter, NftMonitorParser, isNoise, parseIpMonitorLine } from '../../../src/kernel/index.js';

// Lines as `ip -o -ts monitor label all-nsid link address route neigh` printed them (iproute2 6.1).
const lines = {
  hostLink: '[2026-11-28T06:26:27.833112] [nsid current][LINK]2: vh1@if2: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default \\    link/ether ae:bd:09:3f:23:5d brd ff:ff:ff:ff:ff:ff link-netnsid 0',
  containerAddr: '[2026-11-28T06:26:27.860605] [nsid 0][ADDR]2: vh1    inet 10.0.0.2/24 scope global eth0\\       valid_lft forever preferred_lft forever',
  deletedAddr: '[2026-11-28T06:26:28.076055] [nsid 0][ADDR]Deleted 2: vh1    inet 10.0.0.2/24 scope global eth0\\       valid_lft forever preferred_lft forever',
  kernelRoute: '[2026-11-28T06:26:27.878931] [nsid 0][ROUTE]10.0.0.0/24 dev vh1 proto kernel scope link src 10.0.0.2 linkdown ',
  localRoute: '[2026-11-28T06:26:27.861098] [nsid 0][ROUTE]local 10.0.0.2 dev vh1 table local proto kernel scope host src 10.0.0.2 ',
  weftRoute: '[2026-11-28T06:26:29.000000] [nsid 3][ROUTE]Deleted default via 172.17.0.1 dev eth0 proto 250 ',
  linkLocal: '[2026-11-28T06:26:28.090603] [nsid current][ADDR]Deleted 2: vh1    inet6 fe80::acbd:9ff:fe3f:235d/64 scope link tentative \\       valid_lft forever preferred_lft forever',
  noarp: '[2026-11-28T06:26:28.091230] [nsid current][NEIGH]Deleted 224.0.0.22 dev br0 lladdr 01:00:5e:00:00:16 NOARP ',
  stale: '[2026-11-28T06:26:28.091230] [nsid current][NEIGH]172.17.0.2 dev docker0 lladdr 02:42:ac:11:00:02 STALE ',
  permanent: '[2026-11-28T06:26:28.091230] [nsid current][NEIGH]10.10.0.3 dev vx-ov lladdr 02:42:0a:0a:00:03 PERMANENT ',
  deletedLink: '[2026-11-28T06:26:28.091259] [nsid 0][LINK]Deleted 2: eth0@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default \\    link/ether 0a:28:08:20:8e:d5 brd ff:ff:ff:ff:ff:ff',
};

describe('ip monitor lines', () => {
  it('tells the namespace, the object and deletions apart', () => {
    expect(parseIpMonitorLine(lines.hostLink)).toMatchObject({ source: 'ip', object: 'link', nsid: null, deleted: false });
    expect(parseIpMonitorLine(lines.containerAddr)).toMatchObject({ object: 'address', nsid: 0, deleted: false });
    expect(parseIpMonitorLine(lines.deletedAddr)).toMatchObject({ object: 'address', nsid: 0, deleted: true });
    expect(parseIpMonitorLine(lines.weftRoute)).toMatchObject({ object: 'route', nsid: 3, deleted: true, line: 'default via 172.17.0.1 dev eth0 proto 250' });
    expect(parseIpMonitorLine(lines.deletedLink)).toMatchObject({ object: 'link', nsid: 0, deleted: true });
  });

  it('ignores what is not an event line', () => {
    expect(parseIpMonitorLine('')).toBeUndefined();
    expect(parseIpMonitorLine('Timestamp: Sat Nov 28 06:26:27 2026 833112 usec')).toBeUndefined();
    expect(parseIpMonitorLine('[2026-11-28T06:26:27.833112] [nsid current][NSID]nsid 3 (iproute2 netns name: x)')).toBeUndefined();
  });

  it('treats kernel consequences and traffic as noise, weft objects as drift', () => {
    const noise = (l: string) => isNoise(parseIpMonitorLine(l)!);
    expect(noise(lines.kernelRoute)).toBe(true);
    expect(noise(lines.localRoute)).toBe(true);
    expect(noise(lines.linkLocal)).toBe(true);
    expect(noise(lines.noarp)).toBe(true);
    expect(noise(lines.stale)).toBe(true);
    expect(noise(lines.weftRoute)).toBe(false);
    expect(noise(lines.permanent)).toBe(false);
    expect(noise(lines.containerAddr)).toBe(false);
    expect(noise(lines.hostLink)).toBe(false);
  });
});

describe('carrier-only link changes', () => {
  const ev = (line: string) => parseIpMonitorLine(`[2026-11-28T07:29:17.000000] [nsid current][LINK]${line}`)!;
  const created = '3: docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN group default \\    link/ether 8a:9d:6b:77:f0:03 brd ff:ff:ff:ff:ff:ff';
  const carrier = '3: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \\    link/ether 8a:9d:6b:77:f0:03 brd ff:ff:ff:ff:ff:ff';
  const down = '3: docker0: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN group default \\    link/ether 8a:9d:6b:77:f0:03 brd ff:ff:ff:ff:ff:ff';
  const feature = '3: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default event FEATURE CHANGE \\    link/ether 8a:9d:6b:77:f0:03 brd ff:ff:ff:ff:ff:ff';
  const port = '8: veth0ad95fb: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master docker0 state UP \\    link/ether ba:da:96:c7:52:a3';

  it('a later carrier change of a known link is not drift; an admin change is', () => {
    const f = new CarrierFilter();
    expect(f.carrierOnly(ev(created))).toBe(false); // first sight: unknown, so it counts
    expect(f.carrierOnly(ev(carrier))).toBe(true);
    expect(f.carrierOnly(ev(feature))).toBe(true);
    expect(f.carrierOnly(ev(down))).toBe(false); // UP went away
    expect(f.carrierOnly(ev(down))).toBe(true);
  });

  it('bridge port messages have their own memory; a deletion forgets the link', () => {
    const f = new CarrierFilter();
    expect(f.carrierOnly(ev(created))).toBe(false);
    expect(f.carrierOnly(ev(port.replace('8:', '3:')))).toBe(false);
    expect(f.carrierOnly(ev(carrier))).toBe(true);
    expect(f.carrierOnly(parseIpMonitorLine(`[t] [nsid current][LINK]Deleted ${carrier}`)!)).toBe(false);
    expect(f.carrierOnly(ev(carrier))).toBe(false);
    expect(f.carrierOnly({ ...ev(carrier), nsid: 4 })).toBe(false); // the same ifindex elsewhere is another link
  });
});

describe('nft monitor lines', () => {
  it('groups a generation and names the process that committed it', () => {
    const p = new NftMonitorParser();
    expect(p.push('add table inet weft')).toBeUndefined();
    expect(p.push('add chain inet weft forward { type filter hook forward priority filter; policy accept; }')).toBeUndefined();
    const e = p.push('# new generation 3 by process 13441 (nft)');
    expect(e).toMatchObject({ source: 'nft', object: 'nft', nsid: null, deleted: false, pid: 13441, process: 'nft' });
    expect(e?.line).toContain('add chain inet weft forward');
  });

  it('only generations that touch weft tables count', () => {
    const p = new NftMonitorParser();
    p.push('add table inet filter');
    p.push('add rule inet filter input tcp dport 22 accept');
    expect(p.push('# new generation 4 by process 100 (nft)')).toBeUndefined();
    p.push('delete rule inet weft forward handle 17');
    p.push('add rule ip other input accept');
    const e = p.push('# new generation 5 by process 200 (nft)');
    expect(e).toMatchObject({ deleted: true, pid: 200, line: 'delete rule inet weft forward handle 17' });
    p.push('delete table ip weft_dns');
    expect(p.push('# new generation 6')).toMatchObject({ deleted: true });
    expect(p.push('# new generation 6')).toBeUndefined();
  });
});
