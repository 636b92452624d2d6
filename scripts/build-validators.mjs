// Build step (after tsc): writes the manifest validators as ajv standalone code into dist/, so a
// CLI run loads them instead of compiling the schemas (see src/manifest/validators.ts).
import { writeFileSync } from 'node:fs';
import { URL } from 'node:url';
import { VALIDATORS_MODULE, validatorsSource } from '../dist/manifest/validators.js';

writeFileSync(new URL(`../dist/manifest/${VALIDATORS_MODULE}`, import.meta.url), validatorsSource());
