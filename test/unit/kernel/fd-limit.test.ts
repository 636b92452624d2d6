import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { raiseOpenFileLimit } from '../../../src/kernel/inproc/libc.js';

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
