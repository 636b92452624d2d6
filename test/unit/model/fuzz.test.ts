import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InternalError, InvalidManifestError, KernelInputError, WeftError } from '../../../src/errors.js';
import { checkProgram } from '../../../src/kernel/guard.js';
import type { KernelProgram, ReadBack } from '../../../src/kernel/index.js';
import { renderFdbOp, renderIpOp } from '../../../src/kernel/ip-render.js';
import { modelFromText } from '../../../src/model/index.js';
import type { Model } from '../../../src/model/index.js';
import { parseIp } from '../../../src/net/cidr.js';
import { FakeKernel } from '../../support/fake-kernel.js';
import { exampleDocuments, fuzzRuns, fuzzSeed, manifestText } from '../../support/fuzz-manifests.js';
import { FakeWorld } from '../../support/world.js';

/**
 * Property-based fuzzing of the manifest path (issue 11): random documents, mutated examples and
 * random unicode in every string. The loader and the model only ever answer with a model or
 * InvalidManifestError; whatever they accept compiles into kernel requests the kernel guard
 * accepts and /etc/netns files with one record per line. FUZZ_RUNS=N for a longer run
 * (npm run fuzz), FUZZ_SEED to replay the seed a failure prints.
 */

const examples = exampleDocuments();
const params = (runs: number) => ({ numRuns: fuzzRuns(runs), ...(fuzzSeed() !== undefined ? { seed: fuzzSeed()! } : {}) });

/** Long runs (npm run fuzz) get time in proportion. */
const timeout = (runs: number) => Math.max(60_000, fuzzRuns(runs) * 200);

/** The model, or undefined for invalid manifests; anything else thrown fails the property. */
function load(text: string): Model | undefined {
  try {
    return modelFromText([{ file: 'fuzz.yaml', text }]);
  } catch (err) {
    if (err instanceof InvalidManifestError) {
      for (const p of err.problems) expect(p.pos.line).toBeGreaterThan(0);
      return undefined;
    }
    throw err;
  }
}

/** The fake kernel behind the guard the real kernel applies: every token checked, every line rendered. */
class GuardedKernel extends FakeKernel {
  override async run(program: KernelProgram, progress?: (done: number, total: number) => void): Promise<ReadBack | void> {
    checkProgram(program);
    for (const w of [program.host, ...(program.early ?? []), ...program.containers]) {
      for (const op of w.ip) renderIpOp(op);
      for (const op of w.fdb ?? []) renderFdbOp(op);
    }
    return super.run(program, progress);
  }
}

/** /etc/netns files as weft writes them: one record per line, every address an address. */
function checkFiles(files: ReadonlyMap<string, string>): void {
  for (const [p, text] of files) {
    expect(text.replace(/[\t\n]/g, ''), p).not.toMatch(/[\p{Cc}\u2028\u2029]/u);
    for (const line of text.split('\n').filter(Boolean)) {
      if (p.endsWith('/hosts')) {
        const [ip, names, extra] = line.split('\t');
        expect(parseIp(ip ?? ''), `${p}: ${line}`).toBeDefined();
        expect(names, `${p}: ${line}`).toMatch(/^[^\s]+( [^\s]+)*$/);
        expect(extra).toBeUndefined();
      } else if (p.endsWith('/resolv.conf')) {
        expect(line, `${p}: ${line}`).toMatch(/^(# .*|nameserver \S+|search( \S+)+|options( \S+)+)$/);
        if (line.startsWith('nameserver ')) expect(parseIp(line.slice(11))).toBeDefined();
      }
    }
  }
}

describe('manifest fuzzing', () => {
  it('has examples to mutate', () => expect(examples.length).toBeGreaterThan(3));

  it('the loader and the model answer any text with a model or InvalidManifestError', () => {
    fc.assert(
      fc.property(manifestText(examples), (text) => {
        load(text);
      }),
      params(400),
    );
  }, timeout(400));

  it('whatever is accepted becomes kernel requests the guard accepts and one-record-per-line files', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(manifestText(examples), async (text) => {
        const model = load(text);
        if (!model) return;
        accepted++;
        const kernel = new GuardedKernel('h1');
        const world = new FakeWorld('h1', { kernel });
        try {
          await world.apply(text);
        } catch (err) {
          // Problems only compiling finds (exhausted pools, unknown drivers) are fine; a refused
          // token, an internal error or a crash is a rule missed upstream.
          if (err instanceof KernelInputError || err instanceof InternalError || !(err instanceof WeftError)) throw err;
          return;
        }
        checkFiles(kernel.files);
      }),
      params(250),
    );
    // The generators must reach the kernel layer, not only the validators.
    expect(accepted).toBeGreaterThan(0);
  }, timeout(250));
});
