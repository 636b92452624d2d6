export { expandPaths, loadSources, parseYaml, positionOf } from './load.js';
export type { SourceDocument, LoadResult } from './load.js';
export { parseManifests } from './parse.js';
export type * from './types.js';
