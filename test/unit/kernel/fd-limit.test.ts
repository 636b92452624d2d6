import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SOCK_DGRAM, SOCK_STREAM, closeFd, inetSocket, netlinkSocket, raiseOpenFileLimit } from '../../../src/kernel/inproc/libc.js';

/** This process's RLIMIT_NOFILE as /proc shows it: [soft, hard]. */
function limits(): [string, string] {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files')) ?? '';
  const [soft = '', hard = ''] = line.replace('Max open files', '').trim().split(/\s+/);
  return [soft, hard];
}

describe('raiseOpenFileLimit (two descriptors per container for the embedded DNS)', () => {
  it('raises the soft limit to the hard one', () => {
    const [, hard] = limits();
    // Node raises it at start-up already: lower it first (prlimit on this very process).
    const lowered = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=256:${hard}`]);
    expect(lowered.status).toBe(0);
    expect(limits()).toEqual(['256', hard]);
    expect(raiseOpenFileLimit()).toBe(Number(hard));
    expect(limits()).toEqual([hard, hard]);
  });
});

describe('descriptors above select(2)\'s limit (libnftables aborts the process on one >= 1024)', () => {
  it('the sockets weft makes per namespace (the DNS pair, netlink) leave the low numbers to libnftables', () => {
    raiseOpenFileLimit();
    const fds = [inetSocket(SOCK_DGRAM, '127.0.0.1', 0), inetSocket(SOCK_STREAM, '127.0.0.1', 0), netlinkSocket(0)];
    try {
      for (const fd of fds) expect(fd).toBeGreaterThanOrEqual(1024);
    } finally {
      for (const fd of fds) closeFd(fd);
    }
  });
});
