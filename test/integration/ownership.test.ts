import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealKernel, emptyProgram } from '../../src/kernel/index.js';
import { silentLogger } from '../../src/log.js';
import { TestHost, must, run } from '../support/netns.js';

// Issue 11, part D on the real kernel: findings 8 (foreign namespaces and /etc/netns folders), 9
// (no predictable names in $TMPDIR) and 11 (untagged links left by a crash).

const container = (name: string) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\n`;
const links = async (ns: string) => JSON.parse(await must(['ip', '-n', ns, '-j', 'link', 'show'])) as { ifname: string; ifalias?: string; link_type?: string }[];

describe('ownership on the real kernel', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await TestHost.create('wo', { foreign: true });
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  it('a foreign namespace and /etc/netns folder with weft\'s names are conflicts: apply exits 1, nothing in them changes, also under --prune and destroy', async () => {
    const ns = host.netns('f1');
    await must(['ip', 'netns', 'add', ns]);
    const dir = await host.manifests({ 'c.yaml': container('f1') });
    const before = await links(ns);
    const r = await host.weft(['apply', '-f', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`namespace ${ns} (for container f1) exists and is not weft's`);
    const empty = await host.manifests({ 'none.yaml': container('other') }, 'other');
    expect((await host.weft(['apply', '--prune', '-f', empty])).code).toBe(0);
    await host.weft(['destroy', '-f', dir]);
    expect((await run(['ip', 'netns', 'list'])).stdout).toContain(ns);
    expect(await links(ns)).toEqual(before);
    await must(['ip', 'netns', 'del', ns]);

    // Its /etc/netns folder alone (the namespace gone): weft's files would be mounted over /etc.
    await mkdir(`/etc/netns/${ns}`, { recursive: true });
    await writeFile(`/etc/netns/${ns}/resolv.conf`, 'nameserver 198.18.0.53\n');
    const again = await host.weft(['apply', '-f', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`folder /etc/netns/${ns}`);
    expect(await readFile(`/etc/netns/${ns}/resolv.conf`, 'utf8')).toBe('nameserver 198.18.0.53\n');
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(ns);
    await rm(`/etc/netns/${ns}`, { recursive: true, force: true });
  });

  it('a veth and namespace left untagged by a crash are adopted and tagged; an apply converges', async () => {
    const dir = await host.manifests({ 'c.yaml': `${container('u1')}spec: {networks: [bridge]}\n` }, 'u1');
    expect((await host.weft(['apply', '-f', dir])).code).toBe(0);
    const veth = (await links(host.name)).find((l) => l.ifalias?.includes('ctr=u1'))!;
    expect(veth).toBeDefined();
    // What a crash between `link add` and `link set alias` leaves: no tags.
    await must(['ip', '-n', host.name, 'link', 'set', 'dev', veth.ifname, 'alias', '']);
    await must(['ip', '-n', host.name, 'link', 'set', 'dev', veth.ifname, 'down']);
    const r = await host.weft(['apply', '-f', dir]);
    expect(r.stderr).not.toContain('CONFLICT');
    expect(r.code).toBe(0);
    expect((await links(host.name)).find((l) => l.ifname === veth.ifname)?.ifalias).toBe(veth.ifalias);
    const plan = await host.weft(['plan', '-f', dir]);
    expect(plan.stdout.split('\n').filter((l) => /^[+~-] /.test(l))).toEqual([]);
    await host.weft(['destroy', '-f', dir]);
  });

  it('writes nothing under a predictable name in $TMPDIR: a planted symlink is never followed', async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), 'weft-tmpdir-test-'));
    const saved = process.env['TMPDIR'];
    try {
      const target = path.join(tmp, 'victim');
      await writeFile(target, 'precious\n');
      // The names weft used before: weft-<kind>-<pid>-<n>.
      for (const kind of ['nft', 'fdb']) for (let n = 1; n <= 8; n++) await symlink(target, path.join(tmp, `weft-${kind}-${process.pid}-${n}`));
      process.env['TMPDIR'] = tmp;
      const kernel = new RealKernel({ log: silentLogger });
      const program = emptyProgram({ key: '', path: `/run/netns/${host.name}` });
      program.host.nft = [{ add: { table: { family: 'inet', name: 'weft_tmp_probe' } } }];
      await kernel.run(program);
      expect(await readFile(target, 'utf8')).toBe('precious\n');
      const tables = await must(['ip', 'netns', 'exec', host.name, 'nft', '-j', 'list', 'tables']);
      expect(tables).toContain('weft_tmp_probe');
      // Nothing left behind: only the planted links and the victim.
      const left = await readdir(tmp);
      for (const f of left) expect((await lstat(path.join(tmp, f))).isSymbolicLink() || f === 'victim').toBe(true);
      await must(['ip', 'netns', 'exec', host.name, 'nft', 'delete', 'table', 'inet', 'weft_tmp_probe']);
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
