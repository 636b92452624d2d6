import { createRequire } from 'node:module';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { compileValidators, validatorsSource } from '../../../src/manifest/validators.js';
import type { KindName } from '../../../src/manifest/schema.js';
import { repoRoot } from '../../support/netns.js';

/** Evaluates the generated CommonJS module as Node would load it from dist/manifest. */
function loadSource(source: string): Record<KindName, ValidateFunction> {
  const module = { exports: {} as Record<KindName, ValidateFunction> };
  new Function('require', 'module', 'exports', source)(createRequire(import.meta.url), module, module.exports);
  return module.exports;
}

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && /\.ya?ml$/.test(e.name)).map((e) => path.join(e.parentPath, e.name)).sort();
}

/** Every document of examples/ (valid and invalid), and some wrong in several places at once. */
async function documents(): Promise<unknown[]> {
  const docs: unknown[] = [];
  for (const file of await yamlFiles(path.join(repoRoot, 'examples'))) {
    try {
      loadAll(await readFile(file, 'utf8'), (d) => docs.push(d));
    } catch {
      // examples/invalid/yaml-syntax.yaml: not YAML, nothing to validate
    }
  }
  const meta = { name: 'x' };
  docs.push(
    { apiVersion: 'weft/v2', kind: 'Network', metadata: { name: 1, extra: true }, spec: { driver: 3, ipam: { config: [{ subnet: [] }] } } },
    { apiVersion: 'weft/v1', kind: 'Container', metadata: meta, spec: { networks: 'a', ports: [{}], nope: 1 } },
    { apiVersion: 'weft/v1', kind: 'Host', metadata: meta, spec: { address: 5 } },
    { kind: 'Container' },
  );
  return docs;
}

describe('manifest validators: the generated module and the runtime compile agree', () => {
  const compiled = compileValidators();
  const generated = loadSource(validatorsSource());

  it('gives the same verdict and the same errors for every document', async () => {
    const docs = await documents();
    expect(docs.length).toBeGreaterThan(50);
    let invalid = 0;
    for (const doc of docs) {
      for (const kind of Object.keys(compiled) as KindName[]) {
        const a = compiled[kind];
        const b = generated[kind];
        expect(b(doc)).toBe(a(doc));
        expect(b.errors ?? null).toEqual(a.errors ?? null);
        if (a.errors) invalid++;
      }
    }
    expect(invalid).toBeGreaterThan(docs.length);
  });
});
