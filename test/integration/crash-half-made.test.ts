import { mkdir, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTENT_DIR } from '../../src/kernel/netns-intents.js';
import { planChanges } from '../support/crash.js';
import { TestHost, must } from '../support/netns.js';

// Issue 16, found by the daemon kill: `ip netns add` killed after creating /run/netns/NAME and
// before mounting the namespace on it leaves an empty file. weft's intent names it and its
// process is dead: the next apply replaces it with a real namespace instead of a permanent conflict.

describe('a namespace file left half-made by a kill', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await TestHost.create('wkh', { foreign: true });
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  it('is replaced by the next apply, which converges', async () => {
    const ns = host.netns('h1');
    await writeFile(`/run/netns/${ns}`, '');
    await mkdir(INTENT_DIR, { recursive: true, mode: 0o700 });
    await writeFile(`${INTENT_DIR}/${ns}`, `${JSON.stringify({ pid: spawnSync('true').pid, since: new Date().toISOString() })}\n`);
    const dir = await host.manifests({ 'c.yaml': 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: h1}\nspec: {networks: [bridge]}\n' });
    const r = await host.weft(['apply', '-f', dir]);
    expect(r.stderr).not.toContain('CONFLICT');
    expect(r.code, r.stderr).toBe(0);
    const links = JSON.parse(await must(['ip', '-n', ns, '-j', 'link', 'show'])) as { ifname: string }[];
    expect(links.map((l) => l.ifname)).toContain('eth0');
    expect(planChanges((await host.weft(['plan', '-f', dir])).stdout)).toEqual([]);
    expect((await host.weft(['destroy', '-f', dir])).code).toBe(0);
  });
});
