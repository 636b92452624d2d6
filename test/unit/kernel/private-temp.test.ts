import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, sweepDeadTemps } from '../../../src/kernel/private-temp.js';

// Issue 16: a SIGKILLed weft never runs its `finally`, so its temporary folder stays; the next
// weft removes the folders of dead weft processes, and nothing else.

describe('temporary folders of killed weft processes', () => {
  let dir: string;
  let saved: string | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sweep-test-'));
    saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = dir;
  });
  afterEach(async () => {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
    await rm(dir, { recursive: true, force: true });
  });

  /** A PID that existed and is now gone (a child that exited and was reaped). */
  const deadPid = () => spawnSync('true').pid!;

  it('names folders after the process and removes only those of dead processes', async () => {
    const mine = await makeTempDir('ns');
    expect(path.basename(mine)).toMatch(new RegExp(`^weft-ns-${process.pid}-[A-Za-z0-9]{6}$`));
    const dead = deadPid();
    const left = path.join(dir, `weft-files-${dead}-Ab12Cd`);
    await mkdir(path.join(left, 'inner'), { recursive: true });
    // A live process's folder (PID 1 always exists), an unrelated name, and a symlink to a folder.
    const live = path.join(dir, 'weft-ns-1-Zz99Yy');
    await mkdir(live);
    await mkdir(path.join(dir, 'weft-notes'));
    const target = path.join(dir, 'precious');
    await mkdir(target);
    await symlink(target, path.join(dir, `weft-ns-${dead}-Qq11Ww`));
    expect(await sweepDeadTemps()).toBe(1);
    expect((await readdir(dir)).sort()).toEqual([path.basename(mine), 'precious', 'weft-notes', 'weft-ns-1-Zz99Yy', `weft-ns-${dead}-Qq11Ww`].sort());
  });
});
