import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHost, eventually, repoRoot, run, weftBin } from '../support/netns.js';

/**
 * Runs every specs/scenarios/*.yaml: applies its manifests in a throwaway host and checks the
 * expected reachability, files and routes with real traffic. The scenario format is documented
 * in specs/scenarios/README.md.
 */
interface Scenario {
  manifests: string[];
  reach?: { from: string; to: string }[];
  unreachable?: { from: string; to: string }[];
  files?: { container: string; path: string; matches: string }[];
  routes?: { container: string; default: string }[];
  resolve?: { from: string; name: string; address?: string; fails?: boolean }[];
  serve?: { container: string; port: number; proto?: 'tcp' | 'udp'; reply: string }[];
  connect?: { from: string; to: string; port: number; proto?: 'tcp' | 'udp'; reply?: string; fails?: boolean }[];
}

/** "@host" is the host namespace; anything else a container. */
const HOST_NS = '@host';

const dir = path.join(repoRoot, 'specs/scenarios');
const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();

for (const file of files) {
  const scenario = yaml.load(await readFile(path.join(dir, file), 'utf8')) as Scenario;
  describe(`scenario ${file}`, () => {
    let host: TestHost;
    beforeAll(async () => {
      host = await TestHost.create('sc');
      const manifestArgs = scenario.manifests.flatMap((m) => ['-f', path.join(repoRoot, m)]);
      const r = await host.weft(['apply', ...manifestArgs]);
      if (r.code !== 0) throw new Error(`apply failed: ${r.stderr}`);
      // Names need the embedded DNS server: run it (in the host namespace) while the scenario runs.
      const first = scenario.resolve?.find((q) => !q.fails);
      if (first) {
        host.spawn(['node', weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, 'dns', ...manifestArgs]);
        await eventually(async () => (await host.exec(first.from, ['getent', 'hosts', first.name])).code === 0, 15_000, 200);
      }
      for (const s of scenario.serve ?? []) {
        const ns = host.netns(s.container);
        const listen = s.proto === 'udp' ? `UDP-RECVFROM:${s.port},fork` : `TCP-LISTEN:${s.port},fork,reuseaddr`;
        host.spawn(['ip', 'netns', 'exec', ns, 'socat', listen, `SYSTEM:echo ${s.reply}`]);
        const ss = ['ip', 'netns', 'exec', ns, 'ss', '-Hln', s.proto === 'udp' ? '-u' : '-t', `sport = :${s.port}`];
        await eventually(async () => (await run(ss)).stdout.trim() !== '');
      }
    });
    afterAll(async () => {
      await host?.cleanup();
    });
    const ping = async (from: string, to: string) => (await host.exec(from, ['ping', '-c1', '-W1', to])).code === 0;

    for (const r of scenario.reach ?? []) it(`${r.from} reaches ${r.to}`, async () => expect(await ping(r.from, r.to)).toBe(true));
    for (const r of scenario.unreachable ?? []) it(`${r.from} cannot reach ${r.to}`, async () => expect(await ping(r.from, r.to)).toBe(false));
    for (const f of scenario.files ?? []) {
      it(`${f.container}:${f.path} matches ${f.matches}`, async () => {
        const r = await host.exec(f.container, ['cat', f.path]);
        expect(r.stdout).toMatch(new RegExp(f.matches, 'm'));
      });
    }
    for (const rt of scenario.routes ?? []) {
      it(`${rt.container} routes out ${rt.default}`, async () => {
        const r = await host.exec(rt.container, ['ip', 'route', 'show', 'default']);
        expect(r.stdout).toContain(`default ${rt.default}`);
      });
    }
    for (const c of scenario.connect ?? []) {
      const what = `${c.proto ?? 'tcp'} ${c.to}:${c.port}`;
      it(`${c.from} ${c.fails ? 'gets no answer from' : 'gets an answer from'} ${what}`, async () => {
        const ns = c.from === HOST_NS ? host.name : host.netns(c.from);
        const target = c.proto === 'udp' ? `UDP:${c.to}:${c.port}` : `TCP:${c.to}:${c.port},connect-timeout=2`;
        const exchange = async () => {
          const r = await run(['ip', 'netns', 'exec', ns, 'socat', '-T2', '-', target], { input: c.proto === 'udp' ? 'ping\n' : '' });
          return r.code === 0 ? r.stdout.trim() : '';
        };
        let answer = await exchange();
        // UDP is lossy and the forked reply can be slow on a loaded machine: an expected answer gets two more tries.
        for (let i = 0; i < 2 && !c.fails && c.proto === 'udp' && answer !== c.reply; i++) answer = await exchange();
        if (c.fails) expect(answer).toBe('');
        else expect(answer).toBe(c.reply);
      });
    }
    for (const q of scenario.resolve ?? []) {
      it(`${q.from} resolves ${q.name}${q.fails ? ' (fails)' : ''}`, async () => {
        const r = await host.exec(q.from, ['getent', 'hosts', q.name]);
        if (q.fails) expect(r.code).not.toBe(0);
        else expect(r.stdout.split(/\s+/)[0]).toBe(q.address);
      });
    }
  });
}
