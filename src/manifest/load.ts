import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import type { Problem } from '../errors.js';
import { PositionRecorder, SourceText, mapPositions, lookupPosition } from './positions.js';
import type { PositionMap, LineCol } from './positions.js';

/** One YAML document with the positions of its nodes. */
export interface SourceDocument {
  file: string;
  /** 0-based index of the document within its file. */
  index: number;
  value: unknown;
  positions: PositionMap;
}

export interface LoadResult {
  documents: SourceDocument[];
  problems: Problem[];
}

const yamlExtensions = new Set(['.yaml', '.yml']);

/**
 * Expands files and folders (recursively, *.yaml and *.yml, sorted) into a list of files.
 * Reads the filesystem; never the kernel.
 */
export async function expandPaths(paths: readonly string[]): Promise<{ files: string[]; problems: Problem[] }> {
  const files: string[] = [];
  const problems: Problem[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch {
      problems.push({
        code: 'PATH_NOT_FOUND',
        pos: { file: p, line: 1, col: 1 },
        message: `no such file or folder "${p}"`,
        hint: 'pass existing manifest files or folders with -f',
      });
      continue;
    }
    if (st.isDirectory()) files.push(...(await walk(p)));
    else files.push(p);
  }
  return { files: [...new Set(files)], problems };
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full)));
    else if (yamlExtensions.has(path.extname(e.name))) out.push(full);
  }
  return out;
}

/** Parses YAML text into documents with positions; syntax errors become problems. Pure. */
export function parseYaml(file: string, text: string): LoadResult {
  const recorder = new PositionRecorder();
  let values: unknown[];
  try {
    values = yaml.loadAll(text, undefined, { filename: file, listener: recorder.listener, schema: yaml.CORE_SCHEMA });
  } catch (err) {
    if (err instanceof yaml.YAMLException) {
      const mark = err.mark as { line?: number; column?: number } | undefined;
      return {
        documents: [],
        problems: [
          {
            code: 'YAML_SYNTAX',
            pos: { file, line: (mark?.line ?? 0) + 1, col: (mark?.column ?? 0) + 1 },
            message: `YAML syntax error: ${err.reason}`,
            hint: 'fix the YAML (indentation, quoting, a missing colon)',
          },
        ],
      };
    }
    throw err;
  }
  const src = new SourceText(text);
  const roots = recorder.roots();
  const documents: SourceDocument[] = [];
  values.forEach((value, index) => {
    if (value === null || value === undefined) return; // an empty document, e.g. a trailing `---`
    const positions: PositionMap = new Map();
    const frame = roots.find((r) => r.result === value);
    if (frame) mapPositions(frame, value, src, positions);
    documents.push({ file, index, value, positions });
  });
  return { documents, problems: [] };
}

/** Loads every document under the given paths. Reads files only. */
export async function loadSources(paths: readonly string[]): Promise<LoadResult> {
  const { files, problems } = await expandPaths(paths);
  const documents: SourceDocument[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const result = parseYaml(file, text);
    documents.push(...result.documents);
    problems.push(...result.problems);
  }
  return { documents, problems };
}

/** The position of a node of a document (or of its key, for "unknown field"). */
export function positionOf(doc: SourceDocument, pointer: string, key = false): { file: string } & LineCol {
  return { file: doc.file, ...lookupPosition(doc.positions, pointer, key) };
}
