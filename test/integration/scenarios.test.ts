import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHost, repoRoot } from '../support/netns.js';

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
}

const dir = path.join(repoRoot, 'specs/scenarios');
const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();

for (const file of files) {
  const scenario = yaml.load(await readFile(path.join(dir, file), 'utf8')) as Scenario;
  describe(`scenario ${file}`, () => {
    let host: TestHost;
    beforeAll(async () => {
      host = await TestHost.create('sc');
      const r = await host.weft(['apply', ...scenario.manifests.flatMap((m) => ['-f', path.join(repoRoot, m)])]);
      if (r.code !== 0) throw new Error(`apply failed: ${r.stderr}`);
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
    for (const q of scenario.resolve ?? []) {
      it(`${q.from} resolves ${q.name}${q.fails ? ' (fails)' : ''}`, async () => {
        const r = await host.exec(q.from, ['getent', 'hosts', q.name]);
        if (q.fails) expect(r.code).not.toBe(0);
        else expect(r.stdout.split(/\s+/)[0]).toBe(q.address);
      });
    }
  });
}
