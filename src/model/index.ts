import { InvalidManifestError } from '../errors.js';
import { loadSources, parseManifests } from '../manifest/index.js';
import { buildModel } from './build.js';
import { checkRules } from './rules/index.js';
import type { Rule } from './rules/index.js';
import type { Model } from './types.js';

export type * from './types.js';
export { Opt, PREDEFINED } from './types.js';
export { parsePort } from './ports.js';
export type { Rule } from './rules/index.js';

/**
 * Loads manifests from files and folders and validates them into a model.
 * Throws InvalidManifestError with every problem found. Reads files; never the kernel.
 */
export async function loadModel(paths: readonly string[], extraRules: readonly Rule[] = []): Promise<Model> {
  const loaded = await loadSources(paths);
  const parsed = parseManifests(loaded.documents);
  const built = buildModel(parsed.manifests);
  const problems = [...loaded.problems, ...parsed.problems, ...built.problems];
  // Cross-object rules would report follow-on noise while documents are broken.
  if (problems.length === 0) problems.push(...checkRules(built.model, extraRules));
  if (problems.length > 0) throw new InvalidManifestError(problems);
  return built.model;
}
