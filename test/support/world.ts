import { builtinDrivers } from '../../src/compile/index.js';
import { InvalidManifestError, formatProblem } from '../../src/errors.js';
import type { Kernel, NsReadRequest } from '../../src/kernel/index.js';
import { silentLogger } from '../../src/log.js';
import type { Model } from '../../src/model/index.js';
import { modelFromText } from '../../src/model/index.js';
import { providers } from '../../src/providers/index.js';
import type { ReconcileContext, ReconcileResult } from '../../src/reconcile/index.js';
import { destroy, planLines, reconcile } from '../../src/reconcile/index.js';
import { FakeKernel } from './fake-kernel.js';

/** A host on the fake kernel, driven through the real reconcile code. */
export class FakeWorld {
  readonly kernel: FakeKernel;
  readonly ctx: ReconcileContext;

  constructor(readonly hostNetns = 'h1', extra: Partial<ReconcileContext> = {}) {
    this.kernel = new FakeKernel(hostNetns);
    this.ctx = { kernel: this.kernel, log: silentLogger, hostNetns, drivers: builtinDrivers, providers, ...extra };
  }

  model(yaml: string): Model {
    return modelFromText([{ file: 'test.yaml', text: yaml }]);
  }

  async apply(yaml: string, opts: { prune?: boolean; dryRun?: boolean } = {}): Promise<ReconcileResult> {
    return reconcile(this.model(yaml), this.ctx, { prune: opts.prune ?? false, dryRun: opts.dryRun ?? false });
  }

  async plan(yaml: string, prune = false): Promise<string[]> {
    const r = await reconcile(this.model(yaml), this.ctx, { prune, dryRun: true });
    return planLines(r.plan, providers);
  }

  async destroy(yaml: string): Promise<ReconcileResult> {
    return destroy(this.model(yaml), this.ctx, { dryRun: false });
  }

  /** Writes since the last call (and resets the log). */
  takeWrites(): string[] {
    return this.kernel.log.splice(0);
  }
}

/** Manifests as YAML text, for tests. */
export const yaml = {
  network: (name: string, spec = '{}') => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`,
  container: (name: string, spec = '{}') => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`,
};

/** A manifest's problems as the CLI prints them (file:line:col: message; hint [CODE]); [] when valid. */
export function manifestProblems(text: string, file = 'm.yaml'): string[] {
  try {
    modelFromText([{ file, text }]);
    return [];
  } catch (err) {
    if (err instanceof InvalidManifestError) return err.problems.map(formatProblem);
    throw err;
  }
}

/** Records every namespace read a kernel is asked for from now on (the reads still happen). */
export function recordReads(kernel: Pick<Kernel, 'readNamespaces'>): NsReadRequest[] {
  const asked: NsReadRequest[] = [];
  const read = kernel.readNamespaces.bind(kernel);
  kernel.readNamespaces = async (reqs) => {
    asked.push(...reqs);
    return read(reqs);
  };
  return asked;
}
