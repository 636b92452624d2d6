import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonProc } from '../support/daemon.js';
import { http, startWatch, stopDaemon } from '../support/daemon.js';
import { TestHost, eventually, repoRoot, run, weftBin } from '../support/netns.js';

/**
 * Hostile input against the real servers (issue 11): a neighbour on the same bridge aims at a
 * container's 127.0.0.1 services (finding 4) while the container's DNS through 127.0.0.11 keeps
 * working; `weft watch` survives the requests that killed it and never shows the git URL's
 * credentials (finding 6).
 */

const examples = path.join(repoRoot, 'examples/walkthrough');

describe('no 127.0.0.0/8 from outside a container (finding 4)', () => {
  let host: TestHost;
  let dir: string;
  // container2 (172.21.0.2 on eth1) is the neighbour; container3 (172.21.0.3) the target.
  const target = () => host.netns('container3');
  const neighbour = () => host.netns('container2');
  const inNs = (ns: string, argv: string[]) => run(['ip', 'netns', 'exec', ns, ...argv], { timeoutMs: 10_000 });
  /** What the neighbour reads from the target's 127.0.0.1:7777 ('' when it cannot connect). */
  const steal = async () => (await inNs(neighbour(), ['socat', '-T2', '-u', 'TCP:127.0.0.1:7777,connect-timeout=2', '-'])).stdout.trim();

  beforeAll(async () => {
    host = await TestHost.create('lo');
    dir = await host.manifests({
      'networks.yaml': await readFile(path.join(examples, 'networks.yaml'), 'utf8'),
      'containers.yaml': await readFile(path.join(examples, 'containers.yaml'), 'utf8'),
    });
    const applied = await host.weft(['apply', '-f', dir]);
    expect(applied.stderr).toContain('applied and verified');
    // A service the target means for itself only.
    host.spawn(['ip', 'netns', 'exec', target(), 'socat', 'TCP-LISTEN:7777,bind=127.0.0.1,reuseaddr,fork', 'SYSTEM:echo localhost-secret']);
    await eventually(async () => (await inNs(target(), ['socat', '-T2', '-u', 'TCP:127.0.0.1:7777', '-'])).stdout.includes('localhost-secret'), 5000, 100);
    // The neighbour routes 127.0.0.1 to the target over the bridge (route_localnet lets its kernel
    // send such packets): an attacker controls its own namespace.
    for (const argv of [
      ['sysctl', '-qw', 'net.ipv4.conf.eth1.route_localnet=1'],
      // The local table (rule 0) would deliver 127.0.0.1 to its own lo: look it up after ours.
      ['ip', 'rule', 'add', 'lookup', 'local', 'pref', '100'],
      ['ip', 'rule', 'del', 'pref', '0'],
      ['ip', 'rule', 'add', 'to', '127.0.0.1/32', 'lookup', '100', 'pref', '10'],
      ['ip', 'route', 'add', '127.0.0.1/32', 'via', '172.21.0.3', 'dev', 'eth1', 'table', '100'],
    ]) {
      const r = await inNs(neighbour(), argv);
      expect(r.code, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
    }
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  it('the target drops what arrives for its loopback (route_localnet 0: no rule needed); with route_localnet 1 the attack works', async () => {
    const localnet = async () => (await inNs(target(), ['cat', '/proc/sys/net/ipv4/conf/eth0/route_localnet'])).stdout.trim();
    expect(await localnet()).toBe('0');
    expect((await inNs(target(), ['nft', 'list', 'tables'])).stdout).not.toContain('weft_dns');
    expect(await steal()).toBe('');
    // Control: the same attack with route_localnet 1 on the target's interface (what the DNAT
    // design of older versions needed) reaches the service, so the empty answer above is the
    // kernel's martian check, not a broken test setup.
    expect((await inNs(target(), ['sysctl', '-qw', 'net.ipv4.conf.eth0.route_localnet=1'])).code).toBe(0);
    expect(await steal()).toBe('localhost-secret');
    // weft sets it back (drift repair) and the attack fails again. The apply resets the
    // neighbour's route_localnet too: the attacker sets its own again.
    const again = await host.weft(['apply', '-f', dir]);
    expect(again.code).toBe(0);
    expect(await localnet()).toBe('0');
    expect((await inNs(neighbour(), ['sysctl', '-qw', 'net.ipv4.conf.eth1.route_localnet=1'])).code).toBe(0);
    expect(await steal()).toBe('');
  });

  it('DNS through 127.0.0.11 keeps working over UDP and TCP', async () => {
    const server = host.spawn(['node', weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, '--log-format', 'json', 'dns', '-f', dir]);
    const dig = async (args: string[]) => (await host.exec('container3', ['dig', '+short', '+time=2', '+tries=1', ...args])).stdout.trim();
    // Wide: at load 15+ the server's first compile and its worker's start take several seconds.
    await eventually(async () => (await dig(['container2'])) === '172.21.0.2', 40_000, 200);
    expect(await dig(['+tcp', 'container2'])).toBe('172.21.0.2');
    expect(await dig(['-x', '172.21.0.2'])).toBe('container2.isolated_nw.');
    expect(server.output()).not.toContain('"level":50');
  }, 90_000);
});

describe('weft watch survives hostile HTTP requests and hides credentials', () => {
  let host: TestHost;
  let daemon: DaemonProc | undefined;
  const SECRET = 'hunter2-token';

  beforeAll(async () => {
    host = await TestHost.create('hs');
    // Nothing listens on 127.0.0.1:1 inside the host namespace: every fetch fails, and git's
    // messages name the URL, credentials included unless weft redacts them.
    daemon = startWatch(host, ['--git', `http://weft-bot:${SECRET}@127.0.0.1:1/net.git?access_token=${SECRET}`, '--interval', '1s']);
    await eventually(async () => (await http(host, '/healthz')).code === 200, 20_000, 200);
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await host?.cleanup();
  });

  const raw = async (request: string) => (await host.sh(['socat', '-t2', '-T2', '-', 'TCP:127.0.0.1:9847'], { input: request })).stdout;

  it('// , http://[, absolute-form, long paths, odd methods and huge headers: the daemon answers and stays up', async () => {
    const curl = (args: string[]) => host.sh(['curl', '-s', '-o', '/dev/null', '-m', '5', '-w', '%{http_code}', ...args]);
    expect((await curl(['--path-as-is', 'http://127.0.0.1:9847//'])).stdout).toBe('404');
    expect(await raw('GET http://[ HTTP/1.1\r\nhost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw('GET http://weft/healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200/);
    expect((await curl([`http://127.0.0.1:9847/${'a'.repeat(20_000)}`])).stdout).toBe('431');
    expect((await curl(['-X', 'DELETE', 'http://127.0.0.1:9847/status'])).stdout).toBe('405');
    expect((await curl(['-H', `x-big: ${'b'.repeat(20_000)}`, 'http://127.0.0.1:9847/healthz'])).stdout).toBe('431');
    expect(await raw('\x00\x01garbage\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    // Many connections at once: the cap closes the excess; the daemon carries on.
    await host.sh(['bash', '-c', 'for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/9847; sleep 1) & done; wait']);
    expect((await http(host, '/healthz')).code).toBe(200);
    const alive = await Promise.race([daemon!.exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 200))]);
    expect(alive).toBe(true);
  });

  it('/status, /readyz and the log never show the git URL\'s credentials', async () => {
    // Let a few fetches fail, so the error (git's own message) is in the status and the log.
    await eventually(async () => (await http(host, '/status')).body.includes('"error"') && (await http(host, '/readyz')).code === 503, 15_000, 200);
    const status = (await http(host, '/status')).body;
    expect(status).toContain('127.0.0.1:1/net.git');
    for (const text of [status, (await http(host, '/readyz')).body, daemon!.output()]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('weft-bot');
    }
  });
});
