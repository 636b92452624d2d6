import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clearHalfMade } from '../../../src/kernel/netns-intents.js';

// Issue 16: `ip netns add` killed between creating /run/netns/NAME and mounting the namespace on
// it leaves an empty file that reads as a foreign namespace; weft removes it when its intent's
// process is dead, and nothing else.

describe('half-made namespace files', () => {
  let dir: string;
  let netns: string;
  let intents: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'half-made-test-'));
    netns = path.join(dir, 'netns');
    intents = path.join(dir, 'intents');
    await mkdir(netns);
    await mkdir(intents);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const dead = spawnSync('true').pid!;
  const intent = (name: string, pid: number) => writeFile(path.join(intents, name), `${JSON.stringify({ pid, since: 'x' })}\n`);

  it('removes an empty file whose intent names a dead process, with its intent', async () => {
    await writeFile(path.join(netns, 'h-a'), '');
    await intent('h-a', dead);
    expect(await clearHalfMade(netns, intents)).toEqual(['h-a']);
    expect(await readdir(netns)).toEqual([]);
    expect(await readdir(intents)).toEqual([]);
  });

  it('leaves files of live processes, files with content, files without an intent and intents without a file', async () => {
    await writeFile(path.join(netns, 'h-live'), '');
    await intent('h-live', 1);
    await writeFile(path.join(netns, 'h-full'), 'x');
    await intent('h-full', dead);
    await writeFile(path.join(netns, 'h-none'), '');
    await intent('h-gone', dead);
    await mkdir(path.join(netns, 'h-dir'));
    await intent('h-dir', dead);
    expect(await clearHalfMade(netns, intents)).toEqual([]);
    expect((await readdir(netns)).sort()).toEqual(['h-dir', 'h-full', 'h-live', 'h-none']);
    expect((await readdir(intents)).sort()).toEqual(['h-dir', 'h-full', 'h-gone', 'h-live']);
  });
});
