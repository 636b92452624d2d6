import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHost, eventually, must, run } from '../support/netns.js';

/**
 * The host firewall with real traffic. An "outside" namespace joined to the host namespace by a
 * veth stands for the world (198.51.100.0/24, with a route back to the container subnets so that
 * only the firewall stops what must not pass). socat serves and connects.
 */

const HOST_IP = '198.51.100.1';
const OUTSIDE_IP = '198.51.100.2';

const network = (name: string, spec: string) => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;
const container = (name: string, spec: string) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;

const networks =
  network('front', '{ipam: {config: [{subnet: 172.30.1.0/24}]}}') +
  network('back', '{ipam: {config: [{subnet: 172.30.2.0/24}]}}') +
  network('vault', '{internal: true, ipam: {config: [{subnet: 172.30.3.0/24}]}}') +
  network('quiet', '{ipam: {config: [{subnet: 172.30.4.0/24}]}, options: {com.docker.network.bridge.enable_icc: "false"}}');

const containers = (webPorts: string) =>
  container('web', `{networks: {front: {ipv4Address: 172.30.1.10}}, ports: [${webPorts}]}`) +
  container('sib', '{networks: {front: {ipv4Address: 172.30.1.11}}}') +
  container('other', '{networks: {back: {ipv4Address: 172.30.2.10}}}') +
  container('both', '{networks: {front: {ipv4Address: 172.30.1.12}, back: {ipv4Address: 172.30.2.12}}}') +
  container('inside', '{networks: {vault: {ipv4Address: 172.30.3.10}}}') +
  container('q1', '{networks: {quiet: {ipv4Address: 172.30.4.10}}, ports: ["9090:80"]}') +
  container('q2', '{networks: {quiet: {ipv4Address: 172.30.4.11}}}');

const PORTS = '"8080:80", "5353:53/udp", "8081:81"';

describe('firewall: masquerade, isolation, icc, internal networks, published ports', () => {
  let host: TestHost;
  let dir: string;
  let outside: string;

  /** A TCP exchange: what the server said, or '' when the connection failed. */
  const tcp = async (ns: string, addr: string, port: number, timeout = 2): Promise<string> => {
    const r = await run(['ip', 'netns', 'exec', ns, 'socat', `-T${timeout}`, '-', `TCP:${addr}:${port},connect-timeout=${timeout}`]);
    return r.code === 0 ? r.stdout.trim() : '';
  };
  const udp = async (ns: string, addr: string, port: number): Promise<string> => {
    const r = await run(['ip', 'netns', 'exec', ns, 'socat', '-T2', '-', `UDP:${addr}:${port}`], { input: 'ping\n' });
    return r.code === 0 ? r.stdout.trim() : '';
  };
  const ctr = (name: string) => host.netns(name);
  const servers: { pid: number; exited: Promise<number> }[] = [];
  const serve = async (ns: string, listen: string, reply: string, check: string[]) => {
    servers.push(host.spawn(['ip', 'netns', 'exec', ns, 'socat', listen, reply]));
    await eventually(async () => (await run(['ip', 'netns', 'exec', ns, 'ss', '-Hln', ...check])).stdout.trim() !== '');
  };

  beforeAll(async () => {
    host = await TestHost.create('fw', { foreign: true });
    outside = `${host.name}-outside`;
    await must(['ip', 'netns', 'add', outside]);
    await must(['ip', '-n', host.name, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside]);
    await must(['ip', '-n', host.name, 'addr', 'add', `${HOST_IP}/24`, 'dev', 'up0']);
    await must(['ip', '-n', host.name, 'link', 'set', 'up0', 'up']);
    await must(['ip', '-n', outside, 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0']);
    await must(['ip', '-n', outside, 'link', 'set', 'eth0', 'up']);
    await must(['ip', '-n', outside, 'link', 'set', 'lo', 'up']);
    // The world can route to the containers: only the firewall keeps it out.
    await must(['ip', '-n', outside, 'route', 'add', '172.30.0.0/16', 'via', HOST_IP]);
    dir = await host.manifests({ 'networks.yaml': networks, 'containers.yaml': containers(PORTS) });
    const r = await host.weft(['apply', '-f', dir]);
    expect(r.stderr).toContain('applied and verified');
    for (const name of ['web', 'sib', 'other', 'both', 'inside', 'q1', 'q2']) {
      await serve(ctr(name), 'TCP-LISTEN:80,fork,reuseaddr', `SYSTEM:echo hello-${name}`, ['-t', 'sport = :80']);
    }
    await serve(ctr('web'), 'UDP-RECVFROM:53,fork', 'SYSTEM:echo udp-web', ['-u', 'sport = :53']);
    await serve(ctr('web'), 'TCP-LISTEN:81,fork,reuseaddr', 'EXEC:cat', ['-t', 'sport = :81']);
    await serve(outside, 'TCP-LISTEN:9000,fork,reuseaddr', 'SYSTEM:echo peer=$SOCAT_PEERADDR', ['-t', 'sport = :9000']);
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  it('plans nothing after the apply, nftables included', async () => {
    const plan = await host.weft(['plan', '-f', dir]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toBe('');
    const table = await run(['ip', 'netns', 'exec', host.name, 'nft', 'list', 'table', 'inet', 'weft']);
    expect(table.stdout).toMatch(/map pub_addr \{/);
    expect(await run(['ip', 'netns', 'exec', host.name, 'cat', '/proc/sys/net/ipv4/ip_forward'])).toMatchObject({ stdout: '1\n' });
  });

  it('masquerades outbound traffic: the outside sees the host\'s address', async () => {
    expect(await tcp(ctr('sib'), OUTSIDE_IP, 9000)).toBe(`peer=${HOST_IP}`);
    expect(await tcp(ctr('other'), OUTSIDE_IP, 9000)).toBe(`peer=${HOST_IP}`);
  });

  it('answers published TCP and UDP ports from the outside', async () => {
    expect(await tcp(outside, HOST_IP, 8080)).toBe('hello-web');
    expect(await udp(outside, HOST_IP, 5353)).toBe('udp-web');
    expect(await tcp(outside, HOST_IP, 8082, 1)).toBe('');
  });

  it('answers published ports from the host itself, at 127.0.0.1 and at its own address', async () => {
    expect(await tcp(host.name, '127.0.0.1', 8080)).toBe('hello-web');
    expect(await tcp(host.name, HOST_IP, 8080)).toBe('hello-web');
    expect(await udp(host.name, '127.0.0.1', 5353)).toBe('udp-web');
    expect(await udp(host.name, HOST_IP, 5353)).toBe('udp-web');
  });

  it('answers published ports from a sibling container, from the container itself and from another network', async () => {
    expect(await tcp(ctr('sib'), HOST_IP, 8080)).toBe('hello-web');
    expect(await udp(ctr('sib'), HOST_IP, 5353)).toBe('udp-web');
    expect(await tcp(ctr('web'), HOST_IP, 8080)).toBe('hello-web');
    expect(await udp(ctr('web'), HOST_IP, 5353)).toBe('udp-web');
    expect(await tcp(ctr('other'), HOST_IP, 8080)).toBe('hello-web');
  });

  it('keeps the outside away from unpublished container ports, although it has a route', async () => {
    expect(await tcp(outside, '172.30.1.10', 80, 1)).toBe('');
    expect(await tcp(outside, '172.30.2.10', 80, 1)).toBe('');
  });

  it('isolates networks in both directions; a container on both reaches both', async () => {
    expect(await tcp(ctr('other'), '172.30.1.10', 80, 1)).toBe('');
    expect(await tcp(ctr('web'), '172.30.2.10', 80, 1)).toBe('');
    expect(await tcp(ctr('both'), '172.30.1.10', 80)).toBe('hello-web');
    expect(await tcp(ctr('both'), '172.30.2.10', 80)).toBe('hello-other');
    expect(await tcp(ctr('sib'), '172.30.1.10', 80)).toBe('hello-web');
  });

  it('keeps an internal network\'s traffic inside, even when a container routes around', async () => {
    await must(['ip', '-n', ctr('inside'), 'route', 'replace', '198.51.100.0/24', 'via', '172.30.3.1']);
    await must(['ip', '-n', ctr('sib'), 'route', 'replace', '172.30.3.0/24', 'via', '172.30.1.1']);
    expect(await tcp(ctr('inside'), OUTSIDE_IP, 9000, 1)).toBe('');
    expect(await tcp(outside, '172.30.3.10', 80, 1)).toBe('');
    expect(await tcp(ctr('sib'), '172.30.3.10', 80, 1)).toBe('');
    // The gateway (the host: DNS lives there) stays reachable.
    expect((await run(['ip', 'netns', 'exec', ctr('inside'), 'ping', '-c1', '-W1', '172.30.3.1'])).code).toBe(0);
  });

  it('enable_icc=false drops traffic between the bridge\'s containers; outside and published ports still work', async () => {
    expect(await tcp(ctr('q2'), '172.30.4.10', 80, 1)).toBe('');
    expect(await tcp(ctr('q1'), '172.30.4.11', 80, 1)).toBe('');
    expect(await tcp(ctr('q2'), HOST_IP, 9090)).toBe('hello-q1');
    expect(await tcp(outside, HOST_IP, 9090)).toBe('hello-q1');
    expect(await tcp(ctr('q1'), OUTSIDE_IP, 9000)).toBe(`peer=${HOST_IP}`);
  });

  it('a rule deleted by hand shows in the plan and comes back with the next apply', async () => {
    const list = await must(['ip', 'netns', 'exec', host.name, 'nft', '-a', 'list', 'chain', 'inet', 'weft', 'forward']);
    const handle = /comment "weft:isolate#[0-9a-f]+" # handle (\d+)/.exec(list)?.[1];
    expect(handle).toBeDefined();
    await must(['ip', 'netns', 'exec', host.name, 'nft', 'delete', 'rule', 'inet', 'weft', 'forward', 'handle', handle!]);
    // Without the rule the networks are no longer isolated.
    expect(await tcp(ctr('other'), '172.30.1.10', 80)).toBe('hello-web');
    const plan = await host.weft(['plan', '--detail', '-f', dir]);
    expect(plan.stdout.trim().split('\n')).toEqual([`+ nft rule isolate in inet weft forward host ${host.name}`]);
    const r = await host.weft(['apply', '-f', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('1 kernel writes');
    expect(await tcp(ctr('other'), '172.30.1.10', 80, 1)).toBe('');
    expect((await host.weft(['plan', '-f', dir])).stdout).toBe('');
  });

  it('a repeated apply writes nothing (nft monitor stays silent)', async () => {
    const monitor = host.spawn(['ip', 'netns', 'exec', host.name, 'nft', 'monitor']);
    await new Promise((r) => setTimeout(r, 200));
    const r = await host.weft(['apply', '-f', dir]);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(monitor.pid, 'SIGTERM');
    await monitor.exited;
    expect(r.stderr).toContain('0 kernel writes');
    expect(monitor.output().trim()).toBe('');
  });

  it('publishing another port adds elements only: open connections and counters survive', async () => {
    const counter = async () => {
      const chain = await must(['ip', 'netns', 'exec', host.name, 'nft', 'list', 'chain', 'inet', 'weft', 'forward']);
      const line = chain.split('\n').find((l) => l.includes('weft:isolate#'));
      return Number(/counter packets (\d+)/.exec(line ?? '')?.[1]);
    };
    expect(await tcp(ctr('other'), '172.30.1.10', 80, 1)).toBe('');
    const before = await counter();
    expect(before).toBeGreaterThan(0);
    // A connection through a published port, held open across the apply.
    const client: ChildProcessWithoutNullStreams = spawn('ip', ['netns', 'exec', outside, 'socat', '-', `TCP:${HOST_IP}:8081`]);
    try {
      let received = '';
      client.stdout.on('data', (b: Buffer) => (received += b.toString()));
      client.stdin.write('one\n');
      await eventually(async () => received.includes('one'));
      const dir2 = await host.manifests({ 'networks.yaml': networks, 'containers.yaml': containers(`${PORTS}, "8090:80"`) }, 'manifests2');
      const r = await host.weft(['apply', '--detail', '-f', dir2]);
      expect(r.stdout.trim().split('\n').sort()).toEqual([
        '+ nft element 0.0.0.0/0 . tcp . 8090 : 172.30.1.10 in map pub_addr container web',
        '+ nft element 0.0.0.0/0 . tcp . 8090 : 80 in map pub_port container web',
      ]);
      expect(await tcp(outside, HOST_IP, 8090)).toBe('hello-web');
      client.stdin.write('two\n');
      await eventually(async () => received.includes('two'));
      expect(await counter()).toBeGreaterThanOrEqual(before);
    } finally {
      client.kill('SIGKILL');
    }
  });

  it('destroy removes weft\'s table and leaves other tables alone', async () => {
    // Containers' processes end with them (a namespace with processes in it outlives `ip netns del`).
    for (const s of servers) process.kill(s.pid, 'SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await must(['ip', 'netns', 'exec', host.name, 'nft', 'add', 'table', 'inet', 'operator']);
    await must(['ip', 'netns', 'exec', host.name, 'nft', 'add', 'chain', 'inet', 'operator', 'input', '{ type filter hook input priority 0; }']);
    const r = await host.weft(['destroy', '--detail', '-f', await host.manifests({ 'networks.yaml': networks, 'containers.yaml': containers(`${PORTS}, "8090:80"`) }, 'manifests3')]);
    expect(r.stderr).toContain('applied and verified');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`- nft table inet weft host ${host.name}`);
    const tables = await must(['ip', 'netns', 'exec', host.name, 'nft', 'list', 'tables']);
    // The foreign neighbour's table (test/support/foreign.ts) stays too; cleanup checks its rules.
    expect(tables.trim().split('\n').filter((t) => t !== 'table inet frn_neighbour')).toEqual(['table inet operator']);
  });
});
