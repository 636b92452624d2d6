import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonProc } from '../support/daemon.js';
import { daemonStatus as status, http, reconciles, startWatch, stopDaemon } from '../support/daemon.js';
import { GitRemote } from '../support/git-repo.js';
import { TestHost, eventually, repoRoot, run } from '../support/netns.js';

/**
 * The watch daemon against real namespaces: it converges at start, follows manifest edits and
 * git commits, repairs drift made by hand, keeps the last good state on invalid input, refuses a
 * second writer and leaves the network in place when stopped. Timings are not asserted here
 * (bench/watch-latency.mjs measures them); the bounds below are generous on purpose.
 */

const examples = path.join(repoRoot, 'examples/walkthrough');

describe('weft watch: files, drift, invalid edits, lifecycle', () => {
  let host: TestHost;
  let daemon: DaemonProc | undefined;
  let dir: string;
  const ping = async (from: string, to: string) => (await host.exec(from, ['ping', '-c1', '-W1', to])).code === 0;

  beforeAll(async () => {
    host = await TestHost.create('wd');
    dir = await host.manifests({
      'networks.yaml': await readFile(path.join(examples, 'networks.yaml'), 'utf8'),
      'containers.yaml': await readFile(path.join(examples, 'containers.yaml'), 'utf8'),
    });
    daemon = startWatch(host, ['-f', dir, '--resync', '10m']);
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await host?.cleanup();
  });

  it('converges at start and says so on /status, /readyz and weft status', async () => {
    await eventually(async () => (await status(host))?.ready === true, 20_000);
    const s = (await status(host))!;
    expect(s.hostNetns).toBe(host.name);
    expect(s.source).toMatchObject({ kind: 'files', paths: [dir] });
    expect(s.source.revision).toMatch(/^sha256:/);
    expect(s.owned).toMatchObject({ netns: 3, bridge: 2, veth: 4 });
    // (a late kernel event may have caused a no-op reconcile since: look for the first one in the log)
    expect(daemon!.output()).toMatch(/"trigger":"start","result":"applied"/);
    expect((await http(host, '/healthz')).code).toBe(200);
    expect((await http(host, '/readyz')).code).toBe(200);
    expect(await ping('container2', '172.21.0.3')).toBe(true);
    const human = await host.weft(['status']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ready: +yes$/m);
    expect(human.stdout).toContain(`host ${host.name}`);
  });

  it('serves the embedded DNS: names on shared networks resolve through 127.0.0.11, counted in /metrics', async () => {
    await eventually(async () => /^172\.21\.0\.3\s+container3$/m.test((await host.exec('container2', ['getent', 'hosts', 'container3'])).stdout), 10_000);
    // container1 shares no user-defined network with container3
    expect((await host.exec('container1', ['getent', 'hosts', 'container3'])).code).not.toBe(0);
    expect((await http(host, '/metrics')).body).toMatch(/^weft_dns_queries_total\{rcode="NOERROR"\} [1-9]\d*$/m);
    expect((await status(host))!.dns?.queries['NOERROR']).toBeGreaterThan(0);
  });

  it('a manifest edit converges', async () => {
    const containers = path.join(dir, 'containers.yaml');
    const text = await readFile(containers, 'utf8');
    await writeFile(containers, `${text}\n---\napiVersion: weft/v1\nkind: Container\nmetadata: {name: container4}\nspec:\n  networks:\n    isolated_nw: {ipv4Address: 172.21.0.44}\n`);
    await eventually(async () => (await run(['ip', 'netns', 'list'])).stdout.includes(host.netns('container4')), 10_000);
    await eventually(async () => reconciles(daemon!).some((r) => r.trigger.includes('manifest') && r.result === 'applied'), 10_000);
    expect(await ping('container3', '172.21.0.44')).toBe(true);
    // the DNS records follow the edit
    await eventually(async () => /^172\.21\.0\.44\s+container4$/m.test((await host.exec('container3', ['getent', 'hosts', 'container4'])).stdout), 10_000);
  });

  it('a veth deleted by hand is repaired', async () => {
    const peer = await run(['ip', '-n', host.netns('container3'), '-j', 'link', 'show', 'eth0']);
    const ifindex = (JSON.parse(peer.stdout) as { link_index: number }[])[0]!.link_index;
    const hostVeth = (JSON.parse((await run(['ip', '-n', host.name, '-j', 'link', 'show'])).stdout) as { ifindex: number; ifname: string }[]).find((l) => l.ifindex === ifindex)!.ifname;
    const from = daemon!.output().length;
    await run(['ip', '-n', host.name, 'link', 'del', hostVeth]);
    await eventually(async () => reconciles(daemon!, from).some((r) => r.trigger.includes('drift') && r.result === 'applied'), 10_000);
    await eventually(() => ping('container2', '172.21.0.3'), 10_000);
    const repair = reconciles(daemon!, from).find((r) => r.result === 'applied')!;
    expect(repair.summary).toContain('+1 veth');
    const s = (await status(host))!;
    expect(s.drift.repairs).toBeGreaterThan(0);
    expect(s.drift.events).toBeGreaterThan(0);
  });

  it('an address deleted by hand is repaired', async () => {
    const from = daemon!.output().length;
    await run(['ip', '-n', host.netns('container1'), 'addr', 'flush', 'dev', 'eth0']);
    await eventually(async () => reconciles(daemon!, from).some((r) => r.trigger.includes('drift') && r.result === 'applied'), 10_000);
    await eventually(() => ping('container2', '172.17.0.2'), 10_000);
    const repair = reconciles(daemon!, from).find((r) => r.result === 'applied')!;
    expect(repair.summary).toContain('+1 address');
    // a drift pass: only the namespace the event named was read (and read back after the write);
    // nothing else was asked for, not even from the cache
    expect(repair.scoped).toBe(1);
    expect(repair.nsCached).toBe(0);
  });

  it('the nftables table deleted by hand is repaired (nft monitor)', async () => {
    const from = daemon!.output().length;
    expect((await host.sh(['nft', 'list', 'table', 'inet', 'weft'])).code).toBe(0);
    await host.sh(['nft', 'delete', 'table', 'inet', 'weft']);
    await eventually(async () => reconciles(daemon!, from).some((r) => r.trigger.includes('drift') && r.result === 'applied'), 10_000);
    expect((await host.sh(['nft', 'list', 'table', 'inet', 'weft'])).code).toBe(0);
    expect((await http(host, '/metrics')).body).toMatch(/^weft_drift_events_total\{source="nft"\} [1-9]\d*$/m);
  });

  it('an invalid edit keeps the previous state; /status shows the error with file:line:col', async () => {
    const networks = path.join(dir, 'networks.yaml');
    const good = await readFile(networks, 'utf8');
    await writeFile(networks, good.replace('172.21.0.0/16', '172.21.0.0/33'));
    try {
      await eventually(async () => (await status(host))?.error?.kind === 'manifest', 10_000);
      const s = (await status(host))!;
      expect(s.ready).toBe(false);
      const where = new RegExp(`^${networks.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: .*172\\.21\\.0\\.0/33`);
      expect(s.error?.problems?.some((p) => where.test(p))).toBe(true);
      expect((await http(host, '/readyz')).code).toBe(503);
      const human = await host.weft(['status']);
      expect(human.code).toBe(1);
      expect(human.stdout).toContain('networks.yaml:');
      // The kernel keeps the last good state, and drift is still repaired towards it.
      expect(await ping('container2', '172.21.0.3')).toBe(true);
    } finally {
      await writeFile(networks, good);
    }
    await eventually(async () => (await status(host))?.ready === true, 10_000);
    expect((await status(host))!.error).toBeNull();
  });

  it('refuses a second writer, naming the holder; read-only commands keep working', async () => {
    const s = (await status(host))!;
    const apply = await host.weft(['apply', '-f', dir]);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toContain(`pid ${s.pid} (watch)`);
    const second = await host.weft(['watch', '-f', dir, '--listen', '127.0.0.1:9848']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`pid ${s.pid} (watch)`);
    const plan = await host.weft(['plan', '-f', dir]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toBe('');
    expect((await host.weft(['network', 'ls'])).stdout).toContain('isolated_nw');
  });

  it('/metrics speaks Prometheus with weft_ names', async () => {
    const m = await http(host, '/metrics');
    expect(m.code).toBe(200);
    expect(m.body).toContain('# TYPE weft_reconcile_duration_seconds histogram');
    expect(m.body).toMatch(/^weft_reconciles_total\{result="applied"\} [1-9]\d*$/m);
    expect(m.body).toMatch(/^weft_drift_events_total\{source="ip"\} [1-9]\d*$/m);
    expect(m.body).toMatch(/^weft_owned_objects\{kind="netns"\} 4$/m);
    expect(m.body).toContain('weft_ready 1');
  });

  it('SIGHUP forces a full reconcile', async () => {
    const pid = (await status(host))!.pid;
    const signalled = () => reconciles(daemon!).filter((r) => r.trigger.includes('signal'));
    expect(signalled()).toEqual([]);
    process.kill(pid, 'SIGHUP');
    await eventually(async () => signalled().length === 1, 10_000);
    // a full reconcile reads every namespace again: the host and the four containers
    expect(signalled()[0]).toMatchObject({ result: 'converged', nsRead: 5, nsCached: 0 });
  });

  it('SIGTERM stops the daemon and leaves containers reachable; the lock is released', async () => {
    const code = await stopDaemon(daemon);
    daemon = undefined;
    expect(code).toBe(0);
    expect((await http(host, '/healthz')).code).not.toBe(200);
    expect(await ping('container2', '172.21.0.3')).toBe(true);
    expect(await ping('container3', '172.21.0.44')).toBe(true);
    const apply = await host.weft(['apply', '-f', dir]);
    expect(apply.code).toBe(0);
    expect(apply.stdout).toBe('');
  });
});

describe('weft watch --git: a local bare repository as the source', () => {
  let host: TestHost;
  let remote: GitRemote;
  let daemon: DaemonProc | undefined;

  beforeAll(async () => {
    host = await TestHost.create('wd');
    remote = await GitRemote.create();
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await host?.cleanup();
    await remote?.cleanup();
  });

  const networks = (subnet: string) => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: isolated_nw}\nspec:\n  ipam:\n    config:\n      - subnet: ${subnet}\n`;
  const container = (name: string, ip: string) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec:\n  networks:\n    isolated_nw: {ipv4Address: ${ip}}\n`;

  it('applies the commit at the ref and shows its hash; a pushed commit follows', async () => {
    const first = await remote.commit({ 'deploy/networks.yaml': networks('172.21.0.0/16'), 'deploy/c1.yaml': container('c1', '172.21.0.2') });
    daemon = startWatch(host, ['--git', remote.url, '--ref', 'main', '--path', 'deploy', '--interval', '1s']);
    await eventually(async () => (await status(host))?.source.revision === first, 20_000);
    expect((await status(host))!.source).toMatchObject({ kind: 'git', ref: 'main', path: 'deploy' });
    const second = await remote.commit({ 'deploy/c2.yaml': container('c2', '172.21.0.3') });
    await eventually(async () => (await status(host))?.source.revision === second, 15_000);
    expect((await host.exec('c1', ['ping', '-c1', '-W1', '172.21.0.3'])).code).toBe(0);
    const human = await host.weft(['status']);
    expect(human.stdout).toContain(`revision:    ${second.slice(0, 12)} in force`);
  });

  it('skips a commit with invalid manifests and reports it; the next good commit is applied', async () => {
    const good = (await status(host))!.source.revision;
    const bad = await remote.commit({ 'deploy/c3.yaml': container('c3', '10.99.0.7') });
    await eventually(async () => (await status(host))?.source.skipped?.revision === bad, 15_000);
    const s = (await status(host))!;
    expect(s.source.revision).toBe(good);
    expect(s.ready).toBe(false);
    expect(s.error?.problems?.[0]).toMatch(/^deploy\/c3\.yaml:\d+:\d+: .*10\.99\.0\.7/);
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(host.netns('c3'));
    const fixed = await remote.commit({ 'deploy/c3.yaml': container('c3', '172.21.0.7') });
    await eventually(async () => (await status(host))?.source.revision === fixed, 15_000);
    expect((await status(host))!.ready).toBe(true);
    expect((await host.exec('c3', ['ping', '-c1', '-W1', '172.21.0.2'])).code).toBe(0);
  });
});
