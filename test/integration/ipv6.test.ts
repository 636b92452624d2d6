import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalIp } from '../../src/net/cidr.js';
import { TestHost, eventually, must, run, weftBin } from '../support/netns.js';

/**
 * IPv6 through the host firewall with real traffic. An "outside" namespace joined to the host
 * namespace by a veth stands for the world (2001:db8:ff::/64, with a route back to the container
 * subnets, so only the firewall stops what must not pass). Networks use ULA pools inside fd00::/8
 * (never fd00::/64, this machine's own network).
 */

const HOST_IP6 = '2001:db8:ff::1';
const OUTSIDE_IP6 = '2001:db8:ff::2';
const HOST_IP4 = '198.18.99.1';
const OUTSIDE_IP4 = '198.18.99.2';

const network = (name: string, spec: string) => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;
const container = (name: string, spec: string) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;
const dual = (v4: string, v6: string, extra = '') => `{enableIPv6: true, ipam: {config: [{subnet: ${v4}}, {subnet: "${v6}"}]}${extra}}`;

const networks =
  network('front', dual('172.31.1.0/24', 'fd31:1::/64')) +
  network('back', dual('172.31.2.0/24', 'fd31:2::/64')) +
  network('vault', dual('172.31.3.0/24', 'fd31:3::/64', ', internal: true')) +
  network('quiet', dual('172.31.4.0/24', 'fd31:4::/64', ', options: {com.docker.network.bridge.enable_icc: "false"}')) +
  network('direct', dual('172.31.7.0/24', 'fd31:7::/64', ', options: {com.docker.network.bridge.gateway_mode_ipv6: routed}')) +
  network('legacy', '{ipam: {config: [{subnet: 172.31.6.0/24}]}}') +
  network('plain', dual('172.31.5.0/24', 'fd31:5::/64', ', options: {com.docker.network.bridge.enable_ip_masquerade: "false"}'));

const containers =
  container('web', `{networks: {front: {ipv6Address: "fd31:1::10"}}, ports: ["8080:80", "[::]:8081:80", "[${HOST_IP6}]:5353:5300/udp"]}`) +
  container('sib', '{networks: {front: {ipv6Address: "fd31:1::11"}}}') +
  container('other', '{networks: {back: {ipv6Address: "fd31:2::10"}}}') +
  container('inside', '{networks: {vault: {ipv6Address: "fd31:3::10"}}}') +
  container('q1', '{networks: {quiet: {ipv6Address: "fd31:4::10"}}}') +
  container('q2', '{networks: {quiet: {ipv6Address: "fd31:4::11"}}}') +
  container('pub', '{networks: {direct: {ipv6Address: "fd31:7::10"}}, ports: ["8090:80"]}') +
  container('old', '{networks: {legacy: {ipv4Address: 172.31.6.10}}}') +
  container('mix', '{networks: [front, legacy]}') +
  container('bare', '{networks: {plain: {ipv6Address: "fd31:5::10"}}}');

describe('IPv6: forwarding, masquerade, isolation, icc, internal networks, published ports', () => {
  let host: TestHost;
  let dir: string;
  let outside: string;
  const ctr = (name: string) => host.netns(name);

  /** A TCP exchange over IPv6: what the server said, or '' when the connection failed. */
  const tcp6 = async (ns: string, addr: string, port: number, timeout = 5): Promise<string> => {
    const r = await run(['ip', 'netns', 'exec', ns, 'socat', `-T${timeout}`, '-', `TCP6:[${addr}]:${port},connect-timeout=${timeout}`]);
    return r.code === 0 ? r.stdout.trim() : '';
  };
  /** The address the outside's server saw (socat prints it in full: 2001:0db8:...). */
  const peer = async (ns: string): Promise<string> => {
    const said = await tcp6(ns, OUTSIDE_IP6, 9000);
    const m = /^peer=\[(.*)\]$/.exec(said);
    return m ? canonicalIp(m[1]!) : said;
  };
  const tcp4 = async (ns: string, addr: string, port: number, timeout = 5): Promise<string> => {
    const r = await run(['ip', 'netns', 'exec', ns, 'socat', `-T${timeout}`, '-', `TCP4:${addr}:${port},connect-timeout=${timeout}`]);
    return r.code === 0 ? r.stdout.trim() : '';
  };
  const udp6 = async (ns: string, addr: string, port: number): Promise<string> => {
    const r = await run(['ip', 'netns', 'exec', ns, 'socat', '-T4', '-', `UDP6:[${addr}]:${port}`], { input: 'ping\n' });
    return r.code === 0 ? r.stdout.trim() : '';
  };
  const ping6 = async (ns: string, addr: string): Promise<boolean> => (await run(['ip', 'netns', 'exec', ns, 'ping', '-6', '-c1', '-W1', addr])).code === 0;
  const serve = async (ns: string, listen: string, reply: string, port: number) => {
    host.spawn(['ip', 'netns', 'exec', ns, 'socat', listen, reply]);
    await eventually(async () => (await run(['ip', 'netns', 'exec', ns, 'ss', '-Hlnt', `sport = :${port}`])).stdout.trim() !== '');
  };

  beforeAll(async () => {
    host = await TestHost.create('v6');
    outside = `${host.name}-outside`;
    await must(['ip', 'netns', 'add', outside]);
    await must(['ip', '-n', host.name, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside]);
    await must(['ip', '-n', host.name, 'addr', 'add', `${HOST_IP6}/64`, 'dev', 'up0', 'nodad']);
    await must(['ip', '-n', host.name, 'addr', 'add', `${HOST_IP4}/24`, 'dev', 'up0']);
    await must(['ip', '-n', host.name, 'link', 'set', 'up0', 'up']);
    await must(['ip', '-n', outside, 'addr', 'add', `${OUTSIDE_IP6}/64`, 'dev', 'eth0', 'nodad']);
    await must(['ip', '-n', outside, 'addr', 'add', `${OUTSIDE_IP4}/24`, 'dev', 'eth0']);
    await must(['ip', '-n', outside, 'link', 'set', 'eth0', 'up']);
    await must(['ip', '-n', outside, 'link', 'set', 'lo', 'up']);
    // The world can route to the containers: only the firewall keeps it out.
    await must(['ip', '-n', outside, 'route', 'add', 'fd31::/16', 'via', HOST_IP6]);
    dir = await host.manifests({ 'networks.yaml': networks, 'containers.yaml': containers });
    const r = await host.weft(['apply', '-f', dir]);
    expect(r.stderr).toContain('applied and verified');
    await serve(ctr('pub'), 'TCP6-LISTEN:81,fork,reuseaddr', 'SYSTEM:echo unpublished', 81);
    for (const name of ['web', 'sib', 'other', 'inside', 'q1', 'q2', 'bare', 'pub']) {
      await serve(ctr(name), 'TCP6-LISTEN:80,fork,reuseaddr', `SYSTEM:echo hello-${name}`, 80);
    }
    host.spawn(['ip', 'netns', 'exec', ctr('web'), 'socat', 'UDP6-RECVFROM:5300,fork', 'SYSTEM:echo udp-web']);
    await eventually(async () => (await run(['ip', 'netns', 'exec', ctr('web'), 'ss', '-Hlnu', 'sport = :5300'])).stdout.trim() !== '');
    await serve(outside, 'TCP6-LISTEN:9000,fork,reuseaddr', 'SYSTEM:echo peer=$SOCAT_PEERADDR', 9000);
    await eventually(async () => ping6(ctr('sib'), 'fd31:1::10'), 10000, 200);
  }, 60000);
  afterAll(async () => {
    await host?.cleanup();
  });

  it('turns on IPv6 forwarding and br_netfilter for IPv6 in the host namespace; plans nothing after', async () => {
    expect(await must(['ip', 'netns', 'exec', host.name, 'cat', '/proc/sys/net/ipv6/conf/all/forwarding'])).toBe('1\n');
    expect((await host.weft(['plan', '-f', dir])).stdout).toBe('');
  });

  it('two containers on a dual-stack network reach each other over IPv6', async () => {
    expect(await ping6(ctr('web'), 'fd31:1::11')).toBe(true);
    expect(await tcp6(ctr('sib'), 'fd31:1::10', 80)).toBe('hello-web');
  });

  it('masquerades outbound IPv6: the outside sees the host\'s address', async () => {
    await eventually(async () => ping6(ctr('other'), 'fd31:2::1'), 10000, 200);
    expect(await peer(ctr('sib'))).toBe(HOST_IP6);
    expect(await peer(ctr('other'))).toBe(HOST_IP6);
  });

  it('does not masquerade a network with enable_ip_masquerade=false: the outside sees the container', async () => {
    await eventually(async () => ping6(ctr('bare'), 'fd31:5::1'), 10000, 200);
    expect(await peer(ctr('bare'))).toBe('fd31:5::10');
  });

  it('keeps the outside away from container addresses, although it has a route', async () => {
    expect(await tcp6(outside, 'fd31:1::10', 80, 1)).toBe('');
    expect(await ping6(outside, 'fd31:1::10')).toBe(false);
  });

  it('isolates two IPv6 networks in both directions', async () => {
    expect(await tcp6(ctr('other'), 'fd31:1::10', 80, 1)).toBe('');
    expect(await tcp6(ctr('web'), 'fd31:2::10', 80, 1)).toBe('');
    expect(await ping6(ctr('web'), 'fd31:2::10')).toBe(false);
  });

  it('keeps an internal network\'s IPv6 traffic inside, even when a container routes around', async () => {
    await eventually(async () => ping6(ctr('inside'), 'fd31:3::1'), 10000, 200);
    await must(['ip', '-n', ctr('inside'), 'route', 'replace', '2001:db8:ff::/64', 'via', 'fd31:3::1']);
    await must(['ip', '-n', ctr('sib'), 'route', 'replace', 'fd31:3::/64', 'via', 'fd31:1::1']);
    expect(await tcp6(ctr('inside'), OUTSIDE_IP6, 9000, 1)).toBe('');
    expect(await tcp6(outside, 'fd31:3::10', 80, 1)).toBe('');
    expect(await tcp6(ctr('sib'), 'fd31:3::10', 80, 1)).toBe('');
  });

  it('enable_icc=false drops IPv6 between the bridge\'s containers; the outside still works', async () => {
    await eventually(async () => (await ping6(ctr('q1'), 'fd31:4::1')) && (await ping6(ctr('q2'), 'fd31:4::1')), 10000, 200);
    expect(await tcp6(ctr('q2'), 'fd31:4::10', 80, 1)).toBe('');
    expect(await tcp6(ctr('q1'), 'fd31:4::11', 80, 1)).toBe('');
    expect(await peer(ctr('q1'))).toBe(HOST_IP6);
  });

  it('publishes "8080:80" on both families: the outside reaches [host]:8080 and host:8080', async () => {
    // The first connection from the outside failed once under CI load (881 ms, then every later
    // one worked): a transient of its first contact, not of the publish; it must work within 10 s.
    await eventually(async () => (await tcp6(outside, HOST_IP6, 8080)) === 'hello-web' && (await tcp4(outside, HOST_IP4, 8080)) === 'hello-web', 10_000, 250);
    expect(await tcp6(outside, HOST_IP6, 8080)).toBe('hello-web');
    expect(await tcp4(outside, HOST_IP4, 8080)).toBe('hello-web');
  });

  it('publishes "[::]:8081:80" on IPv6 only and "[addr]:5353:5300/udp" on that address only', async () => {
    expect(await tcp6(outside, HOST_IP6, 8081)).toBe('hello-web');
    expect(await tcp4(outside, HOST_IP4, 8081, 1)).toBe('');
    expect(await udp6(outside, HOST_IP6, 5353)).toBe('udp-web');
  });

  it('answers IPv6 published ports from a sibling, from the container itself and from another network (hairpin)', async () => {
    expect(await tcp6(ctr('sib'), HOST_IP6, 8080)).toBe('hello-web');
    expect(await tcp6(ctr('web'), HOST_IP6, 8080)).toBe('hello-web');
    expect(await tcp6(ctr('other'), HOST_IP6, 8080)).toBe('hello-web');
    expect(await tcp6(host.name, HOST_IP6, 8080)).toBe('hello-web');
  });

  it('an IPv6 map element deleted by hand shows in the plan and comes back with the next apply', async () => {
    await must(['ip', 'netns', 'exec', host.name, 'nft', 'delete', 'element', 'inet', 'weft', 'pub_addr6', `{ ${HOST_IP6} . udp . 5353 }`]);
    expect(await udp6(outside, HOST_IP6, 5353)).toBe('');
    const plan = await host.weft(['plan', '--detail', '-f', dir]);
    expect(plan.stdout.trim().split('\n')).toEqual([`+ nft element ${HOST_IP6} . udp . 5353 : fd31:1::10 in map pub_addr6 container web`]);
    expect((await host.weft(['apply', '-f', dir])).code).toBe(0);
    // UDP is lossy: one exchange may go missing, so ask until one answers.
    await eventually(async () => (await udp6(outside, HOST_IP6, 5353)) === 'udp-web', 10000, 100);
    expect((await host.weft(['plan', '-f', dir])).stdout).toBe('');
  });

  it('embedded DNS: AAAA and IPv6 PTR for dual-stack containers, NODATA for a name with IPv4 only', async () => {
    const dig = async (ctr: string, args: string[]) => (await host.exec(ctr, ['dig', '+time=3', '+tries=3', ...args])).stdout;
    const short = async (ctr: string, args: string[]) => (await dig(ctr, ['+short', ...args])).trim().split('\n').filter((l) => l !== '' && !l.startsWith(';'));
    host.spawn(['node', weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, 'dns', '-f', dir]);
    await eventually(async () => (await short('mix', ['A', 'old']))[0] === '172.31.6.10', 15_000, 200);
    expect(await short('mix', ['AAAA', 'web'])).toEqual(['fd31:1::10']);
    expect(await short('mix', ['AAAA', 'web.front'])).toEqual(['fd31:1::10']);
    expect(await short('mix', ['-x', 'fd31:1::10'])).toEqual(['web.front.']);
    expect(await short('mix', ['A', 'old'])).toEqual(['172.31.6.10']);
    const nodata = await dig('mix', ['AAAA', 'old']);
    expect(/status: (\w+)/.exec(nodata)?.[1]).toBe('NOERROR');
    expect(nodata).toMatch(/ANSWER: 0,/);
    expect(/status: (\w+)/.exec(await dig('mix', ['AAAA', 'nosuch.front']))?.[1]).toBe('NXDOMAIN');
  });

  it('gateway_mode_ipv6=routed: no IPv6 NAT; from outside only the published container port and ICMP', async () => {
    await eventually(async () => ping6(ctr('pub'), 'fd31:7::1'), 10000, 200);
    expect(await peer(ctr('pub'))).toBe('fd31:7::10');
    expect(await tcp6(outside, 'fd31:7::10', 80)).toBe('hello-pub');
    expect(await ping6(outside, 'fd31:7::10')).toBe(true);
    expect(await tcp6(outside, 'fd31:7::10', 81, 1)).toBe('');
    // The host port is not used on the routed family; IPv4 stays in nat mode and keeps it.
    expect(await tcp6(outside, HOST_IP6, 8090, 1)).toBe('');
    expect(await tcp4(outside, HOST_IP4, 8090)).toBe('hello-pub');
    // A NAT-mode network next to it is still closed to direct access.
    expect(await tcp6(outside, 'fd31:1::10', 80, 1)).toBe('');
  });

  it('network inspect shows EnableIPv6, the IPv6 IPAM entry and the containers\' IPv6 addresses', async () => {
    const r = await host.weft(['network', 'inspect', 'front', '-f', dir]);
    expect(r.code).toBe(0);
    const [net] = JSON.parse(r.stdout) as { EnableIPv6: boolean; IPAM: { Config: { Subnet: string; Gateway: string }[] }; Containers: Record<string, { Name: string; IPv6Address: string }> }[];
    expect(net!.EnableIPv6).toBe(true);
    expect(net!.IPAM.Config).toContainEqual({ Subnet: 'fd31:1::/64', Gateway: 'fd31:1::1' });
    const web = Object.values(net!.Containers).find((c) => c.Name === 'web');
    expect(web?.IPv6Address).toBe('fd31:1::10/64');
  });

  it('a container IPv6 address deleted by hand shows in the plan and comes back with the next apply', async () => {
    await must(['ip', '-n', ctr('sib'), 'addr', 'del', 'fd31:1::11/64', 'dev', 'eth0']);
    expect(await ping6(ctr('web'), 'fd31:1::11')).toBe(false);
    const plan = await host.weft(['plan', '--detail', '-f', dir]);
    expect(plan.stdout).toContain('fd31:1::11/64');
    expect((await host.weft(['apply', '-f', dir])).code).toBe(0);
    await eventually(async () => ping6(ctr('web'), 'fd31:1::11'), 10000, 200);
    expect((await host.weft(['plan', '-f', dir])).stdout).toBe('');
  });
});
