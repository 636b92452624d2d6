import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHost, eventually, repoRoot, run, weftBin } from '../support/netns.js';

/**
 * The embedded DNS server with real namespaces: `weft dns` runs in the host namespace, every
 * query goes from a container to 127.0.0.11 (dig and getent through `weft exec`), and a dnsmasq in
 * the host namespace plays the host's upstream resolver.
 */
describe('embedded DNS at 127.0.0.11', () => {
  let host: TestHost;
  let dir: string;
  let upstream: { pid: number; exited: Promise<number> };
  let server: { output: () => string };
  const walkthrough = path.join(repoRoot, 'examples/walkthrough');

  const extra = `
---
apiVersion: weft/v1
kind: Network
metadata: {name: other}
spec: {ipam: {config: [{subnet: 172.22.0.0/24}]}}
---
apiVersion: weft/v1
kind: Container
metadata: {name: web1}
spec: {networks: {isolated_nw: {aliases: [web]}}}
---
apiVersion: weft/v1
kind: Container
metadata: {name: web2}
spec: {networks: {isolated_nw: {aliases: [web], links: ["container3:db"]}}}
---
apiVersion: weft/v1
kind: Container
metadata: {name: loner}
spec:
  networks: [other]
  dns: {servers: [127.0.0.54], search: [corp.test], options: ["timeout:2"]}
---
apiVersion: weft/v1
kind: Container
metadata: {name: legacy}
spec: {networks: {bridge: {links: ["container1:db1"]}}}
`;

  const dig = async (ctr: string, args: string[]) => (await host.exec(ctr, ['dig', '+time=3', '+tries=1', ...args])).stdout;
  // dig +short prints errors on stdout too (";; communications error ..."): keep answers only.
  const short = async (ctr: string, args: string[]) =>
    (await dig(ctr, ['+short', ...args])).trim().split('\n').filter((l) => l !== '' && !l.startsWith(';'));
  const status = async (ctr: string, args: string[]) => /status: (\w+)/.exec(await dig(ctr, args))?.[1];

  /** A dnsmasq in the host namespace: upstream.test answers, every other name is NXDOMAIN. */
  const startUpstream = (address: string, answer: string) =>
    host.spawn([
      'ip', 'netns', 'exec', host.name, 'dnsmasq', '-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--listen-address=${address}`,
      '--bind-interfaces', '--port=53', '--user=root', '--pid-file=', `--address=/upstream.test/${answer}`, '--local=/#/',
    ]);

  beforeAll(async () => {
    host = await TestHost.create('dn');
    // The host's resolvers: a loopback one (the embedded server forwards from the host namespace,
    // so it can use it; containers on the default bridge cannot) and an unreachable one.
    await writeFile(`/etc/netns/${host.name}/resolv.conf`, 'nameserver 127.0.0.53\nnameserver 198.18.0.53\noptions timeout:1 attempts:1\n');
    upstream = startUpstream('127.0.0.53', '198.18.0.99');
    startUpstream('127.0.0.54', '198.18.0.98');
    dir = await host.manifests({
      'networks.yaml': await readFile(path.join(walkthrough, 'networks.yaml'), 'utf8'),
      'containers.yaml': (await readFile(path.join(walkthrough, 'containers.yaml'), 'utf8')) + extra,
    });
    const applied = await host.weft(['apply', '-f', dir]);
    expect(applied.stderr).toContain('applied and verified');
    server = host.spawn(['node', weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, '--log-level', 'debug', '--log-format', 'json', 'dns', '-f', dir]);
    await eventually(async () => (await short('container3', ['container2']))[0] === '172.21.0.2', 15_000, 200);
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  it('the seed walkthrough: container2 pings container3 by name; container1 (default bridge) cannot resolve it', async () => {
    const ping = await host.exec('container2', ['ping', '-c1', '-W2', 'container3']);
    expect(ping.stdout, `${ping.stderr}\n${server.output()}`).toContain('1 received');
    const getent = await host.exec('container1', ['getent', 'hosts', 'container3']);
    expect(getent.code).not.toBe(0);
    expect(await readFile(`/etc/netns/${host.netns('container1')}/resolv.conf`, 'utf8')).not.toContain('127.0.0.11');
  });

  it('answers names with TTL 600 over UDP and TCP, and getent works (AAAA is NODATA, not NXDOMAIN)', async () => {
    const out = await dig('container3', ['container2']);
    expect(out).toMatch(/^container2\.\s+600\s+IN\s+A\s+172\.21\.0\.2$/m);
    expect(out).toContain('SERVER: 127.0.0.11#53');
    expect(await short('container3', ['+tcp', 'CONTAINER2'])).toEqual(['172.21.0.2']);
    expect((await host.exec('container3', ['getent', 'hosts', 'container2'])).stdout).toMatch(/^172\.21\.0\.2\s+container2$/m);
    const aaaa = await dig('container3', ['AAAA', 'container2']);
    expect(aaaa).toContain('status: NOERROR');
    expect(aaaa).toContain('ANSWER: 0');
    expect(await status('container3', ['nosuch.isolated_nw'])).toBe('NXDOMAIN');
    expect(await short('container3', ['container2.isolated_nw'])).toEqual(['172.21.0.2']);
  });

  it('answers the short id, aliases on several containers (rotated), and PTR', async () => {
    const hosts = await readFile(`/etc/netns/${host.netns('container2')}/hosts`, 'utf8');
    const shortId = /^172\.17\.0\.3\t([0-9a-f]{12}) container2$/m.exec(hosts)?.[1];
    expect(shortId, hosts).toBeDefined();
    expect(await short('container3', [shortId!])).toEqual(['172.21.0.2']);
    const first = await short('container3', ['web']);
    const second = await short('container3', ['web']);
    expect([...first].sort()).toEqual(['172.21.0.4', '172.21.0.5']);
    expect(second).toEqual([...first].reverse());
    expect(await short('container2', ['-x', '172.21.0.3'])).toEqual(['container3.isolated_nw.']);
  });

  it('scopes names: a container resolves only containers that share a network with it', async () => {
    expect(await status('loner', ['container3'])).toBe('NXDOMAIN');
    expect((await host.exec('loner', ['getent', 'hosts', 'container3'])).code).not.toBe(0);
    expect(await short('loner', ['-x', '172.21.0.3'])).toEqual([]);
    expect(await short('container3', ['loner'])).toEqual([]);
  });

  it('link aliases on a user-defined network resolve for the linking container only', async () => {
    expect(await short('web2', ['db'])).toEqual(['172.21.0.3']);
    expect(await status('web1', ['db'])).toBe('NXDOMAIN');
  });

  it('forwards other names: to the host resolvers, or to the container\'s dns.servers', async () => {
    expect(await short('container3', ['upstream.test'])).toEqual(['198.18.0.99']);
    expect(await short('loner', ['upstream.test'])).toEqual(['198.18.0.98']);
    const resolv = await readFile(`/etc/netns/${host.netns('loner')}/resolv.conf`, 'utf8');
    expect(resolv).toContain('nameserver 127.0.0.11');
    expect(resolv).toContain('search corp.test');
    expect(resolv).toMatch(/^options ndots:0 timeout:2$/m);
  });

  it('default bridge: resolv.conf lists the reachable upstreams, legacy links are hosts entries', async () => {
    const resolv = await readFile(`/etc/netns/${host.netns('legacy')}/resolv.conf`, 'utf8');
    expect(resolv).toContain('nameserver 198.18.0.53');
    expect(resolv).not.toContain('127.0.0.53');
    expect(resolv).not.toContain('127.0.0.11');
    expect((await host.exec('legacy', ['getent', 'hosts', 'db1'])).stdout).toMatch(/^172\.17\.0\.2\s+db1\b/m);
    expect((await host.exec('legacy', ['ping', '-c1', '-W2', 'db1'])).code).toBe(0);
  });

  it('a container added to the manifests resolves without restarting the server', async () => {
    const file = path.join(dir, 'late.yaml');
    await writeFile(file, 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: late}\nspec: {networks: {isolated_nw: {aliases: [newcomer]}}}\n');
    const applied = await host.weft(['apply', '-f', dir]);
    expect(applied.code).toBe(0);
    // The file event reloads at once; the resync (30 s) catches a missed one.
    await eventually(async () => (await short('container3', ['newcomer'])).length === 1, 40_000, 250);
    expect(await short('late', ['container3'])).toEqual(['172.21.0.3']);
  }, 90_000);

  it('serves each container on sockets inside its own namespace: no weft_dns table, route_localnet 0, nothing on :53 of the host namespace\'s gateways', async () => {
    const ns = host.netns('container3');
    const inNs = async (argv: string[]) => (await run(['ip', 'netns', 'exec', ns, ...argv])).stdout;
    expect(await inNs(['nft', 'list', 'tables'])).not.toContain('weft_dns');
    expect((await inNs(['cat', '/proc/sys/net/ipv4/conf/eth0/route_localnet'])).trim()).toBe('0');
    // The server's sockets, as the container's kernel sees them (UDP and TCP, on 127.0.0.11:53).
    expect(await inNs(['ss', '-H', '-lnu'])).toMatch(/127\.0\.0\.11:53\b/);
    expect(await inNs(['ss', '-H', '-lnt'])).toMatch(/127\.0\.0\.11:53\b/);
    // Answered from there, over UDP and over TCP.
    expect(await short('container3', ['@127.0.0.11', '+notcp', 'container2'])).toEqual(['172.21.0.2']);
    expect(await short('container3', ['@127.0.0.11', '+tcp', 'container2'])).toEqual(['172.21.0.2']);
    // Nothing of weft's listens in the host namespace (the upstream dnsmasqs use 127.0.0.53/54).
    const hostSockets = (await run(['ip', 'netns', 'exec', host.name, 'ss', '-H', '-lnu'])).stdout + (await run(['ip', 'netns', 'exec', host.name, 'ss', '-H', '-lnt'])).stdout;
    expect(hostSockets).not.toMatch(/(172\.\d+\.0\.1|127\.0\.0\.11):53\b/);
  });

  it('a host upgraded from the DNAT design converges: the old table goes, route_localnet returns to 0, names resolve', async () => {
    const ns = host.netns('container3');
    // What an older weft left: its table (here redirecting DNS somewhere useless) and route_localnet 1.
    await run(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], { input: 'table ip weft_dns {\n chain output {\n  type nat hook output priority -100; policy accept;\n  ip daddr 127.0.0.11 udp dport 53 dnat to 198.18.0.1:53\n  ip daddr 127.0.0.11 tcp dport 53 dnat to 198.18.0.1:53\n }\n}\n' });
    await run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.conf.eth0.route_localnet=1']);
    expect(await status('container3', ['container2'])).toBeUndefined();
    const plan = await host.weft(['plan', '--detail', '-f', dir]);
    expect(plan.stdout).toContain(`- nft table ip weft_dns in ${ns}`);
    expect(plan.stdout).toMatch(/route_localnet/);
    await host.weft(['apply', '-f', dir]);
    expect((await run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables'])).stdout).not.toContain('weft_dns');
    expect((await run(['ip', 'netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/conf/eth0/route_localnet'])).stdout.trim()).toBe('0');
    expect(await short('container3', ['container2'])).toEqual(['172.21.0.2']);
    expect((await host.weft(['plan', '-f', dir])).stdout).toBe('');
  }, 120_000);

  it('a namespace deleted by hand is destroyed (the server closes its sockets there); recreated by apply, it is served again', async () => {
    const ns = host.netns('web1');
    const veths = async () => (await run(['ip', '-n', host.name, '-o', 'link', 'show', 'type', 'veth'])).stdout.split('\n').filter((l) => l.trim() !== '').length;
    const before = await veths();
    await run(['ip', 'netns', 'del', ns]);
    // Only a destroyed namespace takes its veth with it: an open socket inside would keep it.
    await eventually(async () => (await veths()) === before - 1, 10_000, 100);
    await host.weft(['apply', '-f', dir]);
    await eventually(async () => (await short('web1', ['container3'])).join() === '172.21.0.3', 30_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}; the server's log ends:\n${server.output().slice(-4000)}`);
    });
  }, 90_000);

  it('answers SERVFAIL quickly once the upstream is gone', async () => {
    process.kill(upstream.pid, 'SIGTERM');
    await upstream.exited;
    // dig waits 3 s for an answer (one try): a status at all means no hang.
    expect(await status('container3', ['upstream.test'])).toBe('SERVFAIL');
  });
});
