import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { LockedError } from '../errors.js';

export interface Lock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the per-host writer lock: one weft writes to a host namespace at a time. A lock left by a
 * dead process is taken over. Throws LockedError naming the holder.
 */
export async function acquireLock(stateDir: string, hostKey: string, command: string): Promise<Lock> {
  await mkdir(stateDir, { recursive: true });
  const file = path.join(stateDir, `${hostKey || 'root'}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(JSON.stringify({ pid: process.pid, command, since: new Date().toISOString() }));
      await fh.close();
      return { release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: { pid?: number; command?: string; since?: string } = {};
      try {
        holder = JSON.parse(await readFile(file, 'utf8')) as typeof holder;
      } catch {
        /* being written right now, or garbage: treat as held if young, below */
      }
      if (holder.pid !== undefined && !alive(holder.pid)) {
        await rm(file, { force: true });
        continue;
      }
      throw new LockedError(
        `another weft is writing to host ${hostKey || '(root namespace)'}: pid ${holder.pid ?? '?'} (${holder.command ?? 'unknown'}) since ${holder.since ?? '?'}; wait for it to finish or stop it (lock file ${file})`,
      );
    }
  }
  throw new LockedError(`could not take the lock in ${stateDir}`);
}
