import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinDrivers, compile, emptyAllocations } from '../../../src/compile/index.js';
import { InvalidManifestError, formatProblem } from '../../../src/errors.js';
import { loadModel } from '../../../src/model/index.js';
import { repoRoot } from '../../support/netns.js';

/** Each examples/invalid/<file>.yaml states its exact message on its first line ("# expect: ..."). */
const dir = path.join(repoRoot, 'examples/invalid');
const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();

async function problemsOf(file: string): Promise<string[]> {
  try {
    const model = await loadModel([file]);
    compile(model, { hostNetns: '', allocations: emptyAllocations(), hostResolvConf: '', hostRoutes: [] }, builtinDrivers);
  } catch (err) {
    if (err instanceof InvalidManifestError) return err.problems.map(formatProblem);
    throw err;
  }
  return [];
}

describe('examples/invalid: every error names the place and what to do', () => {
  it('has examples', () => expect(files.length).toBeGreaterThan(20));
  for (const f of files) {
    it(f, async () => {
      const rel = path.join('examples/invalid', f);
      const text = await readFile(path.join(repoRoot, rel), 'utf8');
      const expected = /^# expect: (.*)$/m.exec(text)?.[1];
      expect(expected).toBeDefined();
      const cwd = process.cwd();
      process.chdir(repoRoot);
      try {
        expect(await problemsOf(rel)).toEqual([expected]);
      } finally {
        process.chdir(cwd);
      }
    });
  }
});
