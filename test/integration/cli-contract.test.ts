import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHost, eventually, repoRoot, run } from '../support/netns.js';
import path from 'node:path';

/** The command-line contract of DESIGN.md §4 that scripts depend on, with the built CLI. */
describe('CLI contract', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await TestHost.create('wc');
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  it('invalid manifests exit 2 with file:line:col and leave the kernel untouched', async () => {
    const dir = await host.manifests({
      'ok.yaml': 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: a}\n',
      'bad.yaml': 'apiVersion: weft/v1\nkind: Network\nmetadata: {name: n}\nspec:\n  ipam: {config: [{subnet: 172.17.9.0/24}]}\n',
    });
    const monitor = host.spawn(['ip', '-n', host.name, 'monitor', 'all-nsid']);
    await new Promise((r) => setTimeout(r, 200));
    const r = await host.weft(['apply', '-f', dir]);
    await new Promise((r) => setTimeout(r, 200));
    process.kill(monitor.pid, 'SIGTERM');
    await monitor.exited;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:5:28: network "n": subnet 172\.17\.9\.0\/24 overlaps network "bridge" \(172\.17\.0\.0\/16\); choose another subnet/);
    expect(monitor.output().trim()).toBe('');
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(`${host.name}-a`);
    expect((await host.weft(['validate', '-f', dir])).code).toBe(2);
    expect((await host.weft(['plan', '-f', dir])).code).toBe(2);
  });

  it('plan --json describes each change; apply prints the same lines; exit 0', async () => {
    const dir = await host.manifests({ 'a.yaml': 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: a}\nspec: {networks: [none]}\n' });
    const plan = await host.weft(['plan', '--json', '-f', dir]);
    expect(plan.code).toBe(0);
    const doc = JSON.parse(plan.stdout) as { changes: { action: string; object: string; line: string }[] };
    expect(doc.changes.map((c) => `${c.action} ${c.object}`)).toEqual(['create netns', 'create loopback', 'create file', 'create file']);
    const apply = await host.weft(['apply', '--detail', '-f', dir]);
    expect(apply.code).toBe(0);
    expect(apply.stdout.trim().split('\n')).toEqual(doc.changes.map((c) => c.line));
    const lo = await host.exec('a', ['ip', '-o', 'link']);
    expect(lo.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('exec passes arguments through untouched and returns the exit status', async () => {
    const r = await host.exec('a', ['sh', '-c', 'echo "$1 $2"; exit 7', 'sh', '--flag', 'two words']);
    expect(r.stdout).toBe('--flag two words\n');
    expect(r.code).toBe(7);
    const resolv = await host.exec('a', ['cat', '/etc/resolv.conf']);
    expect(resolv.stdout).toContain('nameserver 198.18.0.53');
  });

  it('global flags work after the subcommand too', async () => {
    const r = await run(['node', path.join(repoRoot, 'dist/cli/main.js'), 'network', 'ls', '--host-netns', host.name, '--state-dir', host.stateDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NETWORK ID +NAME +DRIVER +SCOPE$/m);
    expect(r.stdout).toMatch(/ none +null +local$/m);
  });

  it('a second writer is refused while the lock is held', async () => {
    const { writeFile, mkdir } = await import('node:fs/promises');
    await mkdir(host.stateDir, { recursive: true });
    const lockFile = path.join(host.stateDir, `${host.name}.lock`);
    const dir = await host.manifests({ 'a.yaml': 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: a}\nspec: {networks: [none]}\n' });
    // A file naming a live process is not a lock: only the kernel's flock is.
    const bystander = host.spawn(['sleep', '30']);
    await writeFile(lockFile, JSON.stringify({ pid: bystander.pid, command: 'watch', since: 'now' }));
    expect((await host.weft(['apply', '-f', dir])).code).toBe(0);
    // A real holder (flock(2) on the file, as another weft takes it; -o: sleep does not inherit it).
    const holder = host.spawn(['flock', '-o', lockFile, 'sleep', '30']);
    await eventually(async () => (await run(['flock', '-n', lockFile, 'true'])).code !== 0);
    await writeFile(lockFile, JSON.stringify({ pid: holder.pid, command: 'watch', since: 'now' }));
    const r = await host.weft(['apply', '-f', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pid ${holder.pid} (watch)`);
    process.kill(holder.pid, 'SIGKILL');
    await holder.exited;
    // the kernel dropped the dead holder's lock: taken at once
    expect((await host.weft(['apply', '-f', dir])).code).toBe(0);
  });

  it('destroy removes what it created', async () => {
    const dir = await host.manifests({ 'a.yaml': 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: a}\nspec: {networks: [none]}\n' });
    expect((await host.weft(['destroy', '-f', dir])).code).toBe(0);
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(`${host.name}-a`);
  });
});
