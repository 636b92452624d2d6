import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestPlugin } from '../support/docker-plugin.js';
import { TestHost, must, run, weftBin } from '../support/netns.js';

/**
 * Regression tests for the manifest findings of issue 11 (each failed on ac6d4e0): text from a
 * manifest never becomes a command, a module path or a takeover of the host namespace, and an
 * attached namespace converges. The built CLI, in a throwaway host namespace.
 */

let host: TestHost;
beforeAll(async () => {
  host = await TestHost.create('wsv');
});
afterAll(async () => {
  await host?.cleanup();
});

const container = (name: string, spec: string) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec:\n${spec}\n---\n`;
const network = (name: string, spec = '{}') => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;

/** Links, addresses, routes and rulesets of the host namespace: what "untouched" compares. */
async function hostState(): Promise<string> {
  const parts = await Promise.all([['ip', '-j', 'link'], ['ip', '-j', 'addr'], ['ip', '-j', 'route', 'show', 'table', 'all'], ['nft', '-j', 'list', 'ruleset']].map((c) => host.sh(c)));
  return parts.map((p) => p.stdout).join('\n') + (await run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(host.name)).join('\n');
}

describe('hostile manifests (issue 11)', () => {
  it('a MAC with a second ip -batch line: validate and apply exit 2, the command never runs', async () => {
    const proof = path.join(host.dir, 'proof');
    const dir = await host.manifests({ 'c.yaml': container('c1', `  networks:\n    bridge:\n      macAddress: "02:42:ac:11:00:09\\nnetns exec ${host.netns('c1')} touch ${proof}"`) });
    const before = await hostState();
    const v = await host.weft(['validate', '-f', dir]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/c\.yaml:\d+:\d+: Container "c1": spec\.networks\.bridge\.macAddress ".*\\n.*" is not a MAC address; .* \[BAD_MAC\]/);
    const a = await host.weft(['apply', '-f', dir]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('[BAD_MAC]');
    expect(existsSync(proof)).toBe(false);
    expect(await hostState()).toBe(before);
  });

  it('a driver that is a path: validate and apply exit 2 and import nothing', async () => {
    const proof = path.join(host.dir, 'driver-ran');
    const mod = path.join(host.dir, 'x.js');
    await writeFile(mod, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(proof)}, 'ran');\nexport const driver = { name: 'x' };\n`);
    // From the manifest folder up to / and down to the module (what ../../../../tmp/x did).
    const rel = `${'../'.repeat(12)}${mod.slice(1, -3)}`;
    const dir = await host.manifests({ 'n.yaml': network('n1', `{driver: "${rel}"}`) });
    for (const cmd of ['validate', 'apply']) {
      const r = await host.weft([cmd, '-f', dir]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('[BAD_DRIVER]');
    }
    expect(existsSync(proof)).toBe(false);
  });

  it('no command loads driver code: a module of the driver\'s name is never imported; validate calls no plugin', async () => {
    const proof = path.join(host.dir, 'plugin-ran');
    await writeFile(path.join(host.dir, 'evil.js'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(proof)}, 'ran');\nexport const driver = { name: 'evil', scope: 'local', hasEndpoints: false, defaultMtu: 1500 };\n`);
    const plugins = path.join(host.dir, 'plugins');
    await mkdir(plugins, { recursive: true });
    const plugin = await TestPlugin.start({ socket: path.join(plugins, 'evil.sock'), log: path.join(host.dir, 'evil-calls.log'), args: ['--no-kernel'] });
    try {
      const dir = await host.manifests({ 'n.yaml': network('n1', '{driver: evil}') });
      // WEFT_PLUGIN_PATH was where JavaScript driver modules were loaded from: no longer read.
      const env = { WEFT_PLUGIN_PATH: host.dir, WEFT_DOCKER_PLUGIN_DIRS: plugins };
      const valid = await run(['node', weftBin, 'validate', '-f', dir], { env: { ...process.env, ...env } });
      expect(valid.code, valid.stderr).toBe(0);
      expect(await plugin.calls()).toEqual([]);
      // Without the plugin the manifests are still valid: it may be installed later.
      const missing = await run(['node', weftBin, 'validate', '-f', dir], { env: { ...process.env, WEFT_DOCKER_PLUGIN_DIRS: path.join(host.dir, 'none') } });
      expect(missing.code, missing.stderr).toBe(0);
      for (const cmd of ['plan', 'apply', 'destroy']) {
        const r = await host.weft([cmd, '-f', dir], { env });
        expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
      }
      expect(existsSync(proof)).toBe(false);
    } finally {
      await plugin.stop();
    }
  });

  it('newlines in names and resolver settings never reach /etc/netns files', async () => {
    const specs = [
      '  hostname: "web\\n10.0.0.66 bank.example.com"',
      '  extraHosts: ["db:10.0.0.5\\n10.0.0.66 bank"]',
      '  dns: {search: ["example.com\\nnameserver 10.6.6.6"]}',
      '  dns: {options: ["ndots:2\\nnameserver 10.6.6.6"]}',
      '  dns: {servers: ["127.0.0.1#6379"]}',
      '  networks:\n    bridge: {links: ["c2:db\\n10.0.0.66 bank"]}',
    ];
    for (const spec of specs) {
      const dir = await host.manifests({ 'c.yaml': container('c1', spec) });
      const r = await host.weft(['apply', '-f', dir]);
      expect(r.code, `${spec}\n${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/c\.yaml:\d+:\d+: .*\[BAD_[A-Z_]+\]/);
      expect(existsSync(`/etc/netns/${host.netns('c1')}`)).toBe(false);
    }
  });

  it('a netns that is the host namespace (by inode) or the machine\'s own: exit 2 with its place, nothing changed', async () => {
    const before = await hostState();
    for (const netns of [`/run/netns/${host.name}`, host.name, '/proc/1/ns/net']) {
      const dir = await host.manifests({ 'c.yaml': container('c1', `  netns: ${netns}`) });
      for (const cmd of ['plan', 'apply']) {
        const r = await host.weft([cmd, '-f', dir]);
        expect(r.code, `${cmd} ${netns}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(/c\.yaml:5:10: container "c1": netns .* is (the host namespace|the machine's own namespace).*\[NETNS_IS_HOST\]/);
      }
    }
    expect(await hostState()).toBe(before);
  });

  it('attaches a namespace created outside weft: converges, carries traffic, plans nothing more', async () => {
    const att = `${host.name}-att`;
    await must(['ip', 'netns', 'add', att]);
    const dir = await host.manifests({
      'm.yaml': network('front', '{ipam: {config: [{subnet: 10.77.0.0/24}]}}') + container('a', `  netns: /run/netns/${att}\n  networks:\n    front: {ipv4Address: 10.77.0.10}`) + container('b', '  networks:\n    front: {ipv4Address: 10.77.0.11}'),
    });
    const r = await host.weft(['apply', '-f', dir]);
    expect(r.code, r.stderr).toBe(0);
    const route = await run(['ip', '-n', att, '-j', 'route', 'show', 'default']);
    expect(JSON.parse(route.stdout)).toMatchObject([{ gateway: '10.77.0.1', dev: 'eth0' }]);
    const ping = await run(['ip', 'netns', 'exec', att, 'ping', '-c', '1', '-W', '2', '10.77.0.11']);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    const back = await host.exec('b', ['ping', '-c', '1', '-W', '2', '10.77.0.10']);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    const plan = await host.weft(['plan', '-f', dir]);
    expect(plan.code).toBe(0);
    expect(plan.stdout.split('\n').filter((l) => /^[+~-] /.test(l))).toEqual([]);
  });
});
