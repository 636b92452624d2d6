import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { LockedError } from '../errors.js';
import { tryLockExclusive, unlock } from '../kernel/flock.js';

export interface Lock {
  release(): Promise<void>;
}

/** Who holds a lock, as its holder wrote it: for the error message only, never for the decision. */
interface Holder {
  pid?: unknown;
  command?: unknown;
  since?: unknown;
}

/**
 * Takes the per-host writer lock: one weft writes to a host namespace at a time. The lock is an
 * flock(2) on `<stateDir>/<host>.lock`, held through a descriptor this process keeps open until
 * release() (or its death, when the kernel drops it): a dead or zombie holder, a reused PID, or
 * an empty or garbled file left by a crash never blocks the next writer. The file is never
 * removed (removing it would let two processes lock two different files of the same name).
 * Throws LockedError naming the holder when another live process holds it.
 */
export async function acquireLock(stateDir: string, hostKey: string, command: string): Promise<Lock> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(stateDir, `${hostKey || 'root'}.lock`);
  // Node opens with O_CLOEXEC: the commands weft spawns never inherit (and so never keep) the lock.
  // O_NOFOLLOW: a symlink planted at the lock's name is refused, not followed.
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    if (!fstatSync(fd).isFile()) throw new LockedError(`the lock ${file} is not a regular file; remove it`);
    if (!tryLockExclusive(fd)) {
      throw new LockedError(`another weft is writing to host ${hostKey || '(root namespace)'}: ${describeHolder(file)}; wait for it to finish or stop it (lock file ${file})`);
    }
    // Who holds it, for the message of whoever comes next; the old content is a past holder's.
    ftruncateSync(fd, 0);
    writeSync(fd, `${JSON.stringify({ pid: process.pid, command, since: new Date().toISOString() })}\n`, 0);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let released = false;
  return {
    release: () => {
      if (released) return Promise.resolve();
      released = true;
      try {
        ftruncateSync(fd, 0);
        unlock(fd);
      } finally {
        closeSync(fd);
      }
      return Promise.resolve();
    },
  };
}

/** The holder as its lock file describes it; "unknown" when the file says nothing usable. */
function describeHolder(file: string): string {
  let h: Holder = {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8').slice(0, 4096));
    if (parsed && typeof parsed === 'object') h = parsed as Holder;
  } catch {
    /* empty (being written) or garbled: the message says less, the decision is the kernel's */
  }
  const pid = typeof h.pid === 'number' ? `pid ${h.pid}` : 'pid unknown';
  const cmd = typeof h.command === 'string' ? h.command.replace(/[^\w .:-]/g, '?').slice(0, 40) : 'unknown';
  const since = typeof h.since === 'string' ? h.since.replace(/[^\w .:+-]/g, '?').slice(0, 40) : '?';
  return `${pid} (${cmd}) since ${since}`;
}
