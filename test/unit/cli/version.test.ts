import { describe, expect, it } from 'vitest';
import { formatVersion } from '../../../src/cli/version.js';

describe('weft version for a person', () => {
  it('one line each: commit, kernel, node, and each tool (or "not found")', () => {
    const lines = formatVersion({
      weft: '1.2.3',
      commit: 'a'.repeat(40),
      dirty: true,
      builtAt: '2026-01-01T00:00:00Z',
      kernel: '6.1.0-1-amd64',
      node: 'v20.19.0',
      tools: [
        { name: 'nftables', version: 'nftables v1.0.6 (Lester Gooch #5)' },
        { name: 'graphviz', version: null },
      ],
    });
    expect(lines).toEqual([
      'weft 1.2.3',
      `commit:   ${'a'.repeat(40)} (with uncommitted changes), built 2026-01-01T00:00:00Z`,
      'kernel:   Linux 6.1.0-1-amd64',
      'node:     v20.19.0',
      'nftables: nftables v1.0.6 (Lester Gooch #5)',
      'graphviz: not found',
    ]);
  });
});
