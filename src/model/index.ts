import { InvalidManifestError } from '../errors.js';
import { loadSources, parseManifests, parseYaml } from '../manifest/index.js';
import type { Problem } from '../errors.js';
import type { SourceDocument } from '../manifest/index.js';
import { buildModel } from './build.js';
import { checkRules } from './rules/index.js';
import type { Rule } from './rules/index.js';
import type { Model } from './types.js';

export type * from './types.js';
export { Opt, PREDEFINED } from './types.js';
export { parsePort } from './ports.js';
export { GWBRIDGE, MACVLAN_MODES, VNI_MAX, declaredVnis, macvlanMode, vlanParent, vniOf } from './overlay.js';
export type { MacvlanMode } from './overlay.js';
export type { Rule } from './rules/index.js';

/**
 * Loads manifests from files and folders and validates them into a model.
 * Throws InvalidManifestError with every problem found. Reads files; never the kernel.
 */
export async function loadModel(paths: readonly string[], extraRules: readonly Rule[] = []): Promise<Model> {
  const loaded = await loadSources(paths);
  return modelFromDocuments(loaded.documents, loaded.problems, extraRules);
}

/** The same from in-memory text (tests, the daemon's git source). Pure. */
export function modelFromText(sources: readonly { file: string; text: string }[], extraRules: readonly Rule[] = []): Model {
  const documents: SourceDocument[] = [];
  const problems: Problem[] = [];
  for (const s of sources) {
    const r = parseYaml(s.file, s.text);
    documents.push(...r.documents);
    problems.push(...r.problems);
  }
  return modelFromDocuments(documents, problems, extraRules);
}

function modelFromDocuments(documents: SourceDocument[], loadProblems: Problem[], extraRules: readonly Rule[]): Model {
  const parsed = parseManifests(documents);
  const built = buildModel(parsed.manifests);
  const problems = [...loadProblems, ...parsed.problems, ...parsed.fieldProblems, ...built.problems];
  // While whole documents are unreadable, cross-object rules would report follow-on noise
  // ("network not declared" for a network whose document has a typo); otherwise run them all.
  if (loadProblems.length === 0 && parsed.problems.length === 0) problems.push(...checkRules(built.model, extraRules));
  if (problems.length > 0) throw new InvalidManifestError(problems);
  return built.model;
}
