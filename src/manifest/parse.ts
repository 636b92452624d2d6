import type { ErrorObject } from 'ajv';
import type { Problem } from '../errors.js';
import type { SourceDocument } from './load.js';
import { positionOf } from './load.js';
import { kinds } from './schema.js';
import type { KindName } from './schema.js';
import type { Manifest } from './types.js';

import { formatOfPattern } from './formats.js';
import { loadValidators } from './validators.js';

const validators = loadValidators();

const kindNames = Object.keys(kinds) as KindName[];

/**
 * Checks each document's structure against its kind's schema and returns typed manifests.
 * Documents with structural problems are left out of `manifests` (`problems`). A document whose
 * only problems are field formats (formats.ts) is kept without those fields (`fieldProblems`),
 * so the cross-object rules still run and every problem shows at once; the bad text itself never
 * reaches the model. Pure.
 */
export function parseManifests(documents: readonly SourceDocument[]): { manifests: Manifest[]; problems: Problem[]; fieldProblems: Problem[] } {
  const manifests: Manifest[] = [];
  const problems: Problem[] = [];
  const fieldProblems: Problem[] = [];
  for (const doc of documents) {
    const value = doc.value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push({
        code: 'NOT_A_MAPPING',
        pos: positionOf(doc, ''),
        message: 'a manifest document must be a mapping with apiVersion, kind, metadata and spec',
        hint: 'start the document with "apiVersion: weft/v1" and "kind: Network|Container|Host"',
      });
      continue;
    }
    const kind = (value as Record<string, unknown>)['kind'];
    if (typeof kind !== 'string' || !kindNames.includes(kind as KindName)) {
      problems.push({
        code: 'UNKNOWN_KIND',
        pos: positionOf(doc, kind === undefined ? '' : '/kind'),
        message: kind === undefined ? 'the document has no "kind"' : `unknown kind ${JSON.stringify(kind)}`,
        hint: `use one of ${kindNames.join(', ')}`,
      });
      continue;
    }
    const validate = validators[kind as KindName];
    if (validate(value)) {
      manifests.push(normalize({ ...(value as object), source: doc } as Manifest));
      continue;
    }
    const found = schemaProblems(doc, kind, validate.errors ?? []);
    if (!found.every((f) => f.error.keyword === 'pattern')) {
      problems.push(...found.map((f) => f.problem));
      continue;
    }
    fieldProblems.push(...found.map((f) => f.problem));
    const stripped = withoutFields(value, found.map((f) => f.error.instancePath));
    // Without its bad fields the document must be valid; if not, report it as unreadable.
    if (validate(stripped)) manifests.push(normalize({ ...(stripped as object), source: doc } as Manifest));
  }
  return { manifests, problems, fieldProblems };
}

/**
 * A copy of `value` without the values at `pointers`: a list item takes its whole list with it
 * (removing one item would shift the positions other rules report for the rest).
 */
function withoutFields(value: unknown, pointers: readonly string[]): unknown {
  const copy = structuredClone(value);
  for (const pointer of pointers) {
    const segs = pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let parent: unknown = null;
    let cur: unknown = copy;
    let i = 0;
    for (; i < segs.length - 1; i++) {
      if (cur === null || typeof cur !== 'object') break;
      parent = cur;
      cur = (cur as Record<string, unknown>)[segs[i]!];
    }
    if (cur === null || typeof cur !== 'object') continue;
    if (Array.isArray(cur)) {
      if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[segs[i - 1]!];
    } else {
      delete (cur as Record<string, unknown>)[segs[i]!];
    }
  }
  return copy;
}

/** Turns numbers users may write unquoted (ports) into the strings the model expects. */
function normalize(m: Manifest): Manifest {
  if (m.kind === 'Container' && m.spec?.ports) {
    return { ...m, spec: { ...m.spec, ports: m.spec.ports.map((p) => String(p)) } };
  }
  if (m.kind !== 'Host' && m.spec === undefined) return { ...m, spec: {} } as Manifest;
  return m;
}

function schemaProblems(doc: SourceDocument, kind: string, errors: readonly ErrorObject[]): { problem: Problem; error: ErrorObject }[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const hasDeeper = (p: string) => errors.some((e) => e.instancePath.startsWith(`${p}/`));
  const name = objectName(doc);
  const out: { problem: Problem; error: ErrorObject }[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    // anyOf reports each failed branch; keep one clear message per path.
    if (anyOfPaths.has(e.instancePath) && e.keyword !== 'anyOf') continue;
    if (e.keyword === 'anyOf' && hasDeeper(e.instancePath)) continue;
    const problem = schemaProblem(doc, kind, name, e);
    const key = `${problem.pos.line}:${problem.pos.col}:${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ problem, error: e });
  }
  return out;
}

function objectName(doc: SourceDocument): string {
  const meta = (doc.value as Record<string, unknown>)['metadata'];
  const name = meta && typeof meta === 'object' ? (meta as Record<string, unknown>)['name'] : undefined;
  return typeof name === 'string' ? ` "${name}"` : '';
}

function fieldName(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function schemaProblem(doc: SourceDocument, kind: string, name: string, e: ErrorObject): Problem {
  const where = `${kind}${name}`;
  const field = fieldName(e.instancePath) || 'the document';
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      const ptr = `${e.instancePath}/${extra.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      const allowed = allowedFields(e);
      return {
        code: 'UNKNOWN_FIELD',
        pos: positionOf(doc, ptr, true),
        message: `${where}: unknown field "${fieldName(ptr)}"`,
        hint: allowed ? `remove it or use one of: ${allowed}` : 'remove it or check its spelling',
      };
    }
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      return {
        code: 'MISSING_FIELD',
        pos: positionOf(doc, e.instancePath),
        message: `${where}: missing required field "${fieldName(`${e.instancePath}/${missing}`)}"`,
        hint: `add "${missing}"`,
      };
    }
    case 'type': {
      const want = (e.params as { type: string | string[] }).type;
      const wants = (Array.isArray(want) ? want : [want]).filter((t) => t !== 'null');
      return {
        code: 'WRONG_TYPE',
        pos: positionOf(doc, e.instancePath),
        message: `${where}: ${field} must be ${wants.map(article).join(' or ')}, not ${describe(valueAt(doc.value, e.instancePath))}`,
        hint: `write ${field} as ${wants.map(article).join(' or ')}`,
      };
    }
    case 'const': {
      const want = (e.params as { allowedValue: unknown }).allowedValue;
      return {
        code: e.instancePath === '/apiVersion' ? 'BAD_API_VERSION' : 'BAD_VALUE',
        pos: positionOf(doc, e.instancePath),
        message: `${where}: ${field} is ${JSON.stringify(valueAt(doc.value, e.instancePath))}`,
        hint: `set it to ${JSON.stringify(want)}`,
      };
    }
    case 'anyOf':
      return {
        code: 'WRONG_TYPE',
        pos: positionOf(doc, e.instancePath),
        message: `${where}: ${field} must be a list of network names or a map of network name to settings`,
        hint: 'write e.g. "networks: [frontend]" or "networks: {frontend: {aliases: [web]}}"',
      };
    case 'pattern': {
      const format = formatOfPattern(String((e.params as { pattern: string }).pattern));
      return {
        code: format?.code ?? 'BAD_VALUE',
        pos: positionOf(doc, e.instancePath),
        // JSON quoting: the value may hold line breaks or control characters meant for a terminal.
        message: `${where}: ${field} ${JSON.stringify(valueAt(doc.value, e.instancePath))} ${format?.what ?? 'has the wrong format'}`,
        hint: format?.hint ?? 'see specs/manifest-reference.md',
      };
    }
    case 'minLength':
      return {
        code: 'EMPTY_VALUE',
        pos: positionOf(doc, e.instancePath),
        message: `${where}: ${field} is empty`,
        hint: 'give it a value or remove the field',
      };
    default:
      return {
        code: 'SCHEMA',
        pos: positionOf(doc, e.instancePath),
        message: `${where}: ${field} ${e.message ?? 'is invalid'}`,
        hint: 'see specs/manifest-reference.md',
      };
  }
}

function allowedFields(e: ErrorObject): string | undefined {
  const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props).join(', ') : undefined;
}

function article(t: string): string {
  const names: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    boolean: 'true or false',
    number: 'a number',
    integer: 'a whole number',
  };
  return names[t] ?? t;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur = root;
  for (const seg of pointer.split('/').slice(1)) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}
