import koffi from 'koffi';

/**
 * flock(2) on an open file descriptor, through libc (koffi: Node has no flock). The kernel drops
 * the lock when the last descriptor of the open file closes, which includes the holder's death
 * by any signal: a lock taken this way cannot outlive its holder, whatever its file says.
 */

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

let flockFn: ((fd: number, op: number) => number) | undefined;

/** libc's flock from the process's own symbol table (glibc and musl alike), bound once. */
function libcFlock(): (fd: number, op: number) => number {
  flockFn ??= koffi.load(null).func('int flock(int fd, int operation)') as (fd: number, op: number) => number;
  return flockFn;
}

/**
 * Takes an exclusive lock on `fd` without waiting. Returns false when another open file holds
 * it; throws on any other failure (a bad descriptor, a file system without locks).
 */
export function tryLockExclusive(fd: number): boolean {
  for (;;) {
    if (libcFlock()(fd, LOCK_EX | LOCK_NB) === 0) return true;
    const errno = koffi.errno();
    if (errno === koffi.os.errno['EWOULDBLOCK'] || errno === koffi.os.errno['EAGAIN']) return false;
    if (errno === koffi.os.errno['EINTR']) continue;
    throw new Error(`flock failed (errno ${errno})`);
  }
}

/** Drops the lock on `fd` (closing the descriptor does too). */
export function unlock(fd: number): void {
  libcFlock()(fd, LOCK_UN);
}
