import { describe, expect, it } from 'vitest';
import { execInNamespaces, shellQuote, splitChunkOutput } from '../../../src/kernel/ns-batch.js';
import type { NsCommand } from '../../../src/kernel/ns-batch.js';

// These run a real sh (no namespaces: a null path runs in this process's own), so they check the
// script quoting and the output protocol end to end without privileges.
const here = (argv: string[], input?: string): NsCommand => ({ ns: { key: 'x', path: null }, argv, ...(input !== undefined ? { input } : {}) });

describe('execInNamespaces', () => {
  it('returns each command its own status, stdout and stderr, in order, and runs all after a failure', async () => {
    const stats = { processes: 0, writes: 0 };
    const res = await execInNamespaces(
      [
        here(['sh', '-c', 'echo out; echo err >&2; printf last >&2; exit 3']),
        here(['printf', '%s', 'no newline']),
        here(['sh', '-c', 'exit 0']),
        here(['echo', 'after']),
      ],
      1,
      stats,
    );
    expect(res).toEqual([
      { code: 3, stdout: 'out\n', stderr: 'err\nlast\n' },
      { code: 0, stdout: 'no newline\n', stderr: '' },
      { code: 0, stdout: '', stderr: '' },
      { code: 0, stdout: 'after\n', stderr: '' },
    ]);
    // one sh for the chunk plus one per command
    expect(stats.processes).toBe(1 + 4);
  });

  it('passes arguments and input through untouched', async () => {
    const tricky = `it's "quoted" $HOME \\n \`x\` ;|&`;
    const input = `line one\n${tricky}\nEOF\n@@weft-rc 0\n\nlast`;
    const res = await execInNamespaces([here(['printf', '%s|', tricky, 'two words']), here(['cat'], input)], 2, { processes: 0, writes: 0 });
    expect(res[0]).toEqual({ code: 0, stdout: `${tricky}|two words|\n`, stderr: '' });
    // the input comes back verbatim (cat adds nothing; a final newline is supplied)
    expect(res[1]?.code).toBe(0);
    expect(res[1]?.stdout.split('\n').slice(0, 5)).toEqual(['line one', tricky, 'EOF', '@@weft-rc 0', '']);
  });

  it('spreads many commands over a few shells and reports progress per chunk', async () => {
    const stats = { processes: 0, writes: 0 };
    const done: number[] = [];
    const cmds = Array.from({ length: 130 }, (_, i) => here(['echo', String(i)]));
    const res = await execInNamespaces(cmds, 2, stats, (n) => done.push(n));
    expect(res.map((r) => r.stdout.trim())).toEqual(cmds.map((_, i) => String(i)));
    // chunks of at most 50: 3 shells for 130 commands
    expect(stats.processes).toBe(3 + 130);
    expect(done.at(-1)).toBe(130);
    expect(done.length).toBe(3);
  });
});

describe('splitChunkOutput', () => {
  it('stops at what the shell printed when it ended early', () => {
    expect(splitChunkOutput('a\n\n@@weft-rc-t1 0\n@@weft-rc 1\npartial', 2, 't1')).toEqual([{ code: 0, stdout: 'a\n', stderr: '' }]);
  });
});

describe('shellQuote', () => {
  it('closes and escapes single quotes', () => {
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });
});
