import { spawnSync } from 'node:child_process';
import { link, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEMP_NAME, writeFileAtomic } from '../../src/atomic-file.js';
import { recordCreated } from '../../src/cli/records.js';
import type { GlobalOptions } from '../../src/cli/context.js';
import { clearHalfMade, readIntents, recordIntents } from '../../src/kernel/netns-intents.js';
import { writeNetnsFiles } from '../../src/kernel/program-io.js';
import { silentLogger } from '../../src/log.js';
import type { ReconcileResult } from '../../src/reconcile/index.js';
import { GitSource } from '../../src/reconcile/index.js';
import { EndpointCacheFile } from '../../src/store/cache.js';

// Issue 16: every file weft keeps is replaced whole (a new file renamed over the old one). The
// proof used here: a hard link made to the old file before the write still holds the old content
// afterwards. A write in place (what a kill can cut in half) changes what the link shows too.

describe('every state file is replaced whole, never written in place', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'atomic-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `write` over an existing `file` and checks the old file was replaced, not rewritten. */
  async function expectReplaced(file: string, write: () => Promise<unknown>): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, 'OLD\n');
    const held = path.join(dir, `held-${path.basename(file)}`);
    await link(file, held);
    await write();
    expect(await readFile(held, 'utf8')).toBe('OLD\n');
    expect(await readFile(file, 'utf8')).not.toBe('OLD\n');
    expect((await readdir(path.dirname(file))).filter((n) => TEMP_NAME.test(n))).toEqual([]);
  }

  it('writeFileAtomic replaces the file and a link planted at its name', async () => {
    const file = path.join(dir, 'f');
    await expectReplaced(file, () => writeFileAtomic(file, 'new\n'));
    const victim = path.join(dir, 'victim');
    await writeFile(victim, 'precious\n');
    await rm(file);
    await symlink(victim, file);
    await writeFileAtomic(file, 'new\n');
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect(await readFile(file, 'utf8')).toBe('new\n');
  });

  it('the git source\'s weft-applied.json', async () => {
    const src = new GitSource({ url: 'file:///nowhere', ref: 'main', intervalMs: 60_000, dir: path.join(dir, 'git'), log: silentLogger });
    await expectReplaced(path.join(dir, 'git', 'weft-applied.json'), () => src.recordApplied('abc'));
    await src.close();
  });

  it('the store endpoint cache, and nothing is written through a link at a guessable temporary name', async () => {
    const file = path.join(dir, 'state', 'h.store-endpoints.json');
    const cache = new EndpointCacheFile(file);
    await expectReplaced(file, () => cache.save([]));
    const victim = path.join(dir, 'victim');
    await writeFile(victim, 'precious\n');
    await symlink(victim, `${file}.tmp`);
    await cache.save([]);
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect(await cache.load()).toEqual([]);
  });

  it('the networks record', async () => {
    const g: GlobalOptions = { stateDir: path.join(dir, 'state'), hostNetns: 'h1', logLevel: 'silent' };
    const created = { plan: { changes: [{ domain: 'links', action: 'create', desired: { owner: { kind: 'network', name: 'n1' } } }] } } as unknown as ReconcileResult;
    await expectReplaced(path.join(g.stateDir, 'h1.networks.json'), () => recordCreated(g, created));
  });

  it('/etc/netns files', async () => {
    const file = path.join(dir, 'netns', 'h-a', 'resolv.conf');
    await expectReplaced(file, () => writeNetnsFiles({ write: [{ path: file, content: 'nameserver 10.0.0.1\n' }], remove: [], removeDirs: [] }));
  });

  it('namespace intents; an intent being written is not an intent, and a killed writer\'s is swept', async () => {
    const intents = path.join(dir, 'intents');
    await expectReplaced(path.join(intents, 'h-a'), () => recordIntents(['h-a'], intents));
    const dead = spawnSync('true').pid!;
    await writeFile(path.join(intents, `h-b.weft-${dead}-0123456789ab`), '');
    await writeFile(path.join(intents, `h-c.weft-${process.pid}-0123456789ab`), '');
    expect([...(await readIntents(intents))]).toEqual(['h-a']);
    await mkdir(path.join(dir, 'run-netns'));
    await clearHalfMade(path.join(dir, 'run-netns'), intents);
    expect((await readdir(intents)).sort()).toEqual(['h-a', `h-c.weft-${process.pid}-0123456789ab`]);
  });
});
