import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Ajv, ValidateFunction } from 'ajv';
import type * as standalone from 'ajv/dist/standalone/index.js';
import { kinds } from './schema.js';
import type { KindName } from './schema.js';

/**
 * The manifest validators, one per kind. Compiling the schemas with ajv costs 0.15–0.5 s of every
 * CLI run, so `npm run build` writes them as ajv standalone code (VALIDATORS_MODULE, next to this
 * file in dist/) and a run only loads that. Where the module is absent (vitest runs the TS
 * sources) the schemas are compiled at run time with the same options: both give the same errors
 * (test/unit/manifest/validators.test.ts).
 */

/** File name of the generated module, next to validators.js in dist/manifest. */
export const VALIDATORS_MODULE = 'validators.generated.cjs';

const require = createRequire(import.meta.url);

// verbose: errors carry their schema, so "unknown field" can list the allowed ones.
// code.source: the compiled functions keep their source, for standaloneCode.
function newAjv(source: boolean): Ajv {
  // Required lazily: a run with the generated module never loads ajv's compiler.
  const { Ajv: AjvClass } = require('ajv') as { Ajv: typeof Ajv };
  return new AjvClass({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true, ...(source ? { code: { source: true } } : {}) });
}

/** Compiles the schemas now (what a run without the generated module does). */
export function compileValidators(): Record<KindName, ValidateFunction> {
  const ajv = newAjv(false);
  return Object.fromEntries(Object.entries(kinds).map(([kind, schema]) => [kind, ajv.compile(schema)])) as Record<KindName, ValidateFunction>;
}

/** The CommonJS source of a module exporting one validate function per kind (ajv standalone). */
export function validatorsSource(): string {
  const ajv = newAjv(true);
  for (const [kind, schema] of Object.entries(kinds)) ajv.addSchema(schema, kind);
  const { default: generate } = require('ajv/dist/standalone') as typeof standalone.default;
  return generate(ajv, Object.fromEntries(Object.keys(kinds).map((k) => [k, k])));
}

/** The generated validators when the build wrote them, otherwise compiled now. */
export function loadValidators(): Record<KindName, ValidateFunction> {
  if (!existsSync(new URL(VALIDATORS_MODULE, import.meta.url))) return compileValidators();
  return require(`./${VALIDATORS_MODULE}`) as Record<KindName, ValidateFunction>;
}
