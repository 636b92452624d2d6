import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockedError } from '../../../src/errors.js';
import { acquireLock } from '../../../src/reconcile/lock.js';
import { until } from '../../support/wait.js';

// Finding 10 (issue 11) and issue 16's lock: the kernel decides who holds the lock (flock(2)),
// never the file's content. Holders here are other processes taking the same flock, as a weft
// in another process does.

const children: ChildProcess[] = [];
let dir: string;
let lockFile: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'weft-lock-test-'));
  lockFile = path.join(dir, 'h1.lock');
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function holdWithFlockTool(): ChildProcess {
  // util-linux flock(1): takes flock(2) on the file (waiting out the probes of waitHeld) and keeps
  // it while `sleep` runs (-o: sleep does not inherit it, so killing flock(1) ends the hold).
  const c = spawn('flock', ['-o', lockFile, 'sleep', '30'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

/** Waits until some other process holds the lock (flock(1) has taken it). */
async function waitHeld(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await heldByOther()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the holder never took the lock');
}

/** Whether every thread of `pid` has exited (the leader may still be a zombie). */
async function allThreadsExited(pid: number): Promise<boolean> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const states = await Promise.all(tasks.map(async (t) => (await readFile(`/proc/${pid}/task/${t}/stat`, 'utf8').catch(() => ') X')).split(') ')[1]?.[0]));
  return states.every((st) => st === 'Z' || st === 'X');
}

async function heldByOther(): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn('flock', ['-n', lockFile, 'true'], { stdio: 'ignore' });
    c.on('close', (code) => resolve(code !== 0));
  });
}

describe('the per-host writer lock', { timeout: 20_000 }, () => {
  it('names a live holder in a LockedError and lets the next writer in after release', async () => {
    const lock = await acquireLock(dir, 'h1', 'apply');
    const err = await acquireLock(dir, 'h1', 'destroy').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as Error).message).toContain(`pid ${process.pid} (apply)`);
    expect(await heldByOther()).toBe(true);
    await lock.release();
    expect(await heldByOther()).toBe(false);
    const again = await acquireLock(dir, 'h1', 'destroy');
    await again.release();
  });

  it('lets exactly one of many concurrent acquirers win', async () => {
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => acquireLock(dir, 'h1', `apply-${i}`)));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LockedError);
    await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLock>>>).value.release();
  });

  it('is taken at once after its holder was killed with SIGKILL, whatever the file says', async () => {
    await writeFile(lockFile, JSON.stringify({ pid: process.pid, command: 'apply', since: 'earlier' }));
    const holder = holdWithFlockTool();
    await waitHeld();
    await expect(acquireLock(dir, 'h1', 'apply')).rejects.toBeInstanceOf(LockedError);
    const gone = new Promise((r) => holder.on('close', r));
    holder.kill('SIGKILL');
    await gone;
    const lock = await acquireLock(dir, 'h1', 'apply');
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).toMatchObject({ pid: process.pid, command: 'apply' });
    await lock.release();
  });

  it('is not held by a zombie: a holder that exited but was not reaped', async () => {
    // The holder is a child of a process that never reaps it (sh exec'd into sleep): once it
    // exits it stays a zombie, its lock file still naming its pid.
    const holderJs = `
      const fs = require('node:fs');
      const fd = fs.openSync(${JSON.stringify(lockFile)}, 'w');
      const flock = require('koffi').load(null).func('int flock(int, int)');
      if (flock(fd, 6) !== 0) process.exit(3);
      // Written only once it holds the lock: the test checks the file names it.
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, command: 'apply', since: 'now' }));
      process.exit(0);`;
    const sh = spawn('sh', ['-c', 'node -e "$1" & echo $!; exec sleep 30', 'sh', holderJs], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
    children.push(sh);
    let out = '';
    sh.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await until(() => out.includes('\n'), 5000);
    const pid = Number(out.trim());
    const state = async () => (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).split(') ')[1]?.[0];
    // A multi-threaded process shows Z once its main thread is done; its files close with the last thread.
    for (let i = 0; i < 500 && !((await state()) === 'Z' && (await allThreadsExited(pid))); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await state()).toBe('Z');
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).toMatchObject({ pid });
    const lock = await acquireLock(dir, 'h1', 'apply');
    await lock.release();
  });

  it.each([
    ['empty', ''],
    ['garbled', '{"pid": 12'],
    ['naming a live process (a reused PID)', JSON.stringify({ pid: 1, command: 'apply', since: '2020-01-01T00:00:00Z' })],
    ['naming this very process', JSON.stringify({ pid: process.pid, command: 'watch', since: 'now' })],
  ])('never blocks when the lock file is %s but nobody holds it', async (_what, content) => {
    await writeFile(lockFile, content);
    const lock = await acquireLock(dir, 'h1', 'apply');
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).toMatchObject({ pid: process.pid, command: 'apply' });
    await lock.release();
  });

  it('shows a garbled holder as unknown, never its raw text', async () => {
    await writeFile(lockFile, '{"pid": "1; rm -rf /", "command": "\\u001b[31mevil\\nline"}');
    holdWithFlockTool();
    await waitHeld();
    const err = (await acquireLock(dir, 'h1', 'apply').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(LockedError);
    expect(err.message).toContain('pid unknown');
    expect(err.message).not.toContain('\nline');
    expect(err.message).not.toContain(String.fromCharCode(27));
  });

  it('refuses a symlink planted at the lock file name', async () => {
    const target = path.join(dir, 'target');
    await writeFile(target, 'keep');
    await symlink(target, lockFile);
    await expect(acquireLock(dir, 'h1', 'apply')).rejects.toThrow();
    expect(await readFile(target, 'utf8')).toBe('keep');
  });
});
