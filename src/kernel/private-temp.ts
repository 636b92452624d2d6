import { constants } from 'node:fs';
import { lstat, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { processAlive } from './process-alive.js';

/**
 * A new folder of weft's own in $TMPDIR: `weft-<kind>-<pid>-<random>`, mode 0700 (mkdtemp). The
 * PID in the name lets a later weft remove what a killed one left (sweepDeadTemps); the random
 * part keeps the name unpredictable.
 */
export function makeTempDir(kind: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `weft-${kind}-${process.pid}-`));
}

const TEMP_NAME = /^weft-[a-z]+-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * Removes the temporary folders of weft processes that no longer exist (a SIGKILL skips every
 * `finally`). Only folders that are ours (same uid, a real folder, not a symlink) and whose PID is
 * dead: a live weft's folder, or a reused PID's, is left alone (at worst a folder stays).
 */
export async function sweepDeadTemps(): Promise<number> {
  const dir = tmpdir();
  const uid = process.getuid?.();
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = TEMP_NAME.exec(name)?.[1];
    if (!pid || Number(pid) === process.pid || processAlive(Number(pid))) continue;
    const st = await lstat(path.join(dir, name)).catch(() => undefined);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
    await rm(path.join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}


/**
 * Files handed to commands (nft -f, bridge -batch) in a folder of weft's own: mkdtemp makes it
 * with a random name and mode 0700, so nobody else can plant a name in it, and each file is
 * created new (O_EXCL) without following symlinks (O_NOFOLLOW). Nothing is ever written under a
 * predictable name in /tmp or $TMPDIR. The folder is made on first use; remove() deletes it.
 */
export class PrivateTemp {
  private dir: Promise<string> | undefined;
  private seq = 0;

  /** Writes `content` to a new file in the private folder and returns its path. */
  async file(kind: string, content: string): Promise<string> {
    this.dir ??= makeTempDir('files');
    const f = path.join(await this.dir, `${kind}-${++this.seq}`);
    const fh = await open(f, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    return f;
  }

  /** Removes the folder and everything in it (nothing if it was never made). */
  async remove(): Promise<void> {
    const dir = this.dir;
    this.dir = undefined;
    if (!dir) return;
    await rm(await dir, { recursive: true, force: true });
  }
}
