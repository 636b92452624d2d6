import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import jsYaml from 'js-yaml';
import { repoRoot } from './netns.js';

/**
 * Generators of hostile manifests for property-based tests (fast-check): random documents of the
 * three kinds, random mutations of the valid examples/ manifests, and random unicode, injection
 * text and odd YAML in every string. Shared by the unit fuzz (loader + model + fake kernel) and
 * the integration fuzz (the built CLI in a throwaway namespace).
 */

/** Text that has turned into commands, paths or extra lines before (issue 11). */
export const INJECTIONS = [
  '02:42:ac:11:00:09\nnetns exec c1 touch /tmp/proof',
  'eth0\nlink del lo',
  '../../../../tmp/x',
  '/proc/1/ns/net',
  '/run/netns/../../proc/1/ns/net',
  '127.0.0.1#6379',
  'web\n10.0.0.66 bank',
  'ndots:2\nnameserver 10.6.6.6',
  'a;reboot',
  '$(touch /tmp/p)',
  '`id`',
  '"quoted\\" alias',
  '\u001b[2J',
  '\u0000',
  '\u2028',
  'a'.repeat(300),
  'ünïcödé.example',
  '',
  ' ',
  '-',
  '.',
  '..',
];

/** Plausible values, so random documents get past the first checks often enough to reach deeper rules. */
const PLAUSIBLE = ['bridge', 'overlay', 'macvlan', 'host', 'none', 'n1', 'c1', 'web', '10.20.0.0/24', '10.20.0.5', '10.20.0.1', 'fd00:1::/64', '02:42:0a:14:00:05', '8080:80/tcp', 'ndots:2', '8.8.8.8', 'db:10.0.0.5', 'example.com', 'true', '1450', 'eth0'];

const str = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PLAUSIBLE) },
  { weight: 2, arbitrary: fc.constantFrom(...INJECTIONS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...PLAUSIBLE), fc.constantFrom(...INJECTIONS)).map(([a, b]) => a + b) },
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: str },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 70000 }) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.double() },
);

const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(str, tie('v'), { maxKeys: 3 })),
})).v;

const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });
const strList = fc.array(str, { maxLength: 3 });

const endpoint = fc.record(
  { ipv4Address: str, ipv6Address: str, aliases: strList, links: strList, macAddress: str },
  { requiredKeys: [] },
);

const networkSpec = fc.record(
  {
    driver: str,
    internal: fc.boolean(),
    enableIPv6: fc.boolean(),
    ipam: fc.record({ driver: str, config: fc.array(fc.record({ subnet: str, gateway: str, ipRange: str, auxAddresses: fc.dictionary(str, str, { maxKeys: 2 }) }, { requiredKeys: [] }), { maxLength: 2 }) }, { requiredKeys: [] }),
    options: fc.dictionary(fc.oneof(str, fc.constantFrom('com.docker.network.bridge.name', 'com.docker.network.driver.mtu', 'parent', 'macvlan_mode', 'com.docker.network.driver.overlay.vxlanid_list')), fc.oneof(str, fc.integer()), { maxKeys: 3 }),
  },
  { requiredKeys: [] },
);

const containerSpec = fc.record(
  {
    host: str,
    netns: str,
    hostname: str,
    networks: fc.oneof(strList, fc.dictionary(fc.oneof(str, fc.constantFrom('n1', 'bridge')), fc.option(endpoint), { maxKeys: 2 })),
    ports: fc.array(fc.oneof(str, fc.integer({ min: -1, max: 70000 })), { maxLength: 2 }),
    dns: fc.record({ servers: strList, search: strList, options: strList }, { requiredKeys: [] }),
    extraHosts: strList,
  },
  { requiredKeys: [] },
);

const doc = (kind: string, spec: fc.Arbitrary<unknown>) =>
  fc.record({ apiVersion: fc.oneof({ weight: 9, arbitrary: fc.constant('weft/v1') }, { weight: 1, arbitrary: str }), kind: fc.constant(kind), metadata: fc.record({ name: fc.oneof(fc.constantFrom('n1', 'c1', 'c2', 'h1'), str) }), spec: optional(spec) });

/** A random document of one of the three kinds (or random junk, now and then). */
export const randomDocument: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: doc('Network', networkSpec) },
  { weight: 4, arbitrary: doc('Container', containerSpec) },
  { weight: 1, arbitrary: doc('Host', fc.record({ address: str })) },
  { weight: 1, arbitrary: value },
);

/** The valid manifests under examples/ (not examples/invalid), as parsed documents per file. */
export function exampleDocuments(): unknown[][] {
  const out: unknown[][] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== 'invalid') walk(p);
      else if (e.isFile() && /\.ya?ml$/.test(e.name)) out.push(jsYaml.loadAll(readFileSync(p, 'utf8')));
    }
  };
  walk(path.join(repoRoot, 'examples'));
  return out;
}

type Mutation = { path: number[]; kind: 'replace' | 'delete' | 'add'; value: unknown; key: string };

/** Applies a mutation at a path of indexes (each picks a key or item, modulo its count). */
function mutate(root: unknown, m: Mutation): unknown {
  const copy = structuredClone(root);
  let parent: Record<string, unknown> | unknown[] | undefined;
  let key: string | number | undefined;
  let cur: unknown = copy;
  for (const i of m.path) {
    if (cur === null || typeof cur !== 'object') break;
    const keys = Array.isArray(cur) ? cur.map((_, j) => j) : Object.keys(cur);
    if (keys.length === 0) break;
    parent = cur as Record<string, unknown>;
    key = keys[i % keys.length]!;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  if (m.kind === 'add' && cur !== null && typeof cur === 'object') {
    if (Array.isArray(cur)) cur.push(m.value);
    else (cur as Record<string, unknown>)[m.key] = m.value;
  } else if (parent !== undefined && key !== undefined) {
    if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else (parent as Record<string | number, unknown>)[key] = m.value;
  } else if (m.kind === 'replace') return m.value;
  return copy;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.array(fc.nat(20), { minLength: 1, maxLength: 7 }),
  kind: fc.constantFrom('replace', 'replace', 'delete', 'add'),
  value: value,
  key: fc.oneof(str, fc.constantFrom('macAddress', 'netns', 'hostname', 'aliases', 'driver', 'extraHosts', 'dns')),
});

/** One example file with one to three random mutations. */
export function mutatedExample(examples: unknown[][]): fc.Arbitrary<unknown[]> {
  return fc.tuple(fc.constantFrom(...examples), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([docs, ms]) => {
    let out: unknown = docs;
    for (const m of ms) out = mutate(out, m);
    return Array.isArray(out) ? out : [out];
  });
}

/** Paths to every string in a value (keys included: a key's path ends with its name and `key: true`). */
function stringPaths(root: unknown, at: (string | number)[] = [], out: { path: (string | number)[]; key: boolean }[] = []): { path: (string | number)[]; key: boolean }[] {
  if (typeof root === 'string') out.push({ path: at, key: false });
  else if (Array.isArray(root)) root.forEach((v, i) => stringPaths(v, [...at, i], out));
  else if (root !== null && typeof root === 'object') {
    for (const [k, v] of Object.entries(root)) {
      out.push({ path: [...at, k], key: true });
      stringPaths(v, [...at, k], out);
    }
  }
  return out;
}

function setAt(root: unknown, target: { path: (string | number)[]; key: boolean }, text: string): unknown {
  const copy = structuredClone(root);
  let cur = copy as Record<string | number, unknown>;
  const path = target.path;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (target.key) {
    const v = cur[last];
    delete cur[last];
    cur[text] = v;
  } else cur[last] = text;
  return copy;
}

/** An example file with one string (a value or a key) replaced: mostly valid, so it reaches deep. */
export function oneStringReplaced(examples: unknown[][]): fc.Arbitrary<unknown[]> {
  return fc.tuple(fc.constantFrom(...examples), fc.nat(), str).map(([docs, n, text]) => {
    const targets = stringPaths(docs);
    return targets.length === 0 ? docs : (setAt(docs, targets[n % targets.length]!, text) as unknown[]);
  });
}

/** A valid value per attacked field: the attacks append a line break or a separator and a payload to it. */
const VALID: Record<string, string> = {
  hostname: 'web',
  netns: '/run/netns/wtfuzz-none',
  macAddress: '02:42:0a:14:00:09',
  aliases: 'web',
  links: 'c2:db',
  ipv4Address: '10.20.0.9',
  servers: '10.20.0.53',
  search: 'example.com',
  options: 'ndots:2',
  extraHosts: 'db:10.20.0.7',
  ports: '8080:80/tcp',
  driver: 'bridge',
  bridgeName: 'wtfuzz0',
};
const LISTS = new Set(['aliases', 'links', 'servers', 'search', 'options', 'extraHosts', 'ports']);

const attackText = (field: string) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('\n', '\r\n', ' ', '\t', ';', '#', '\u2028', '\u0000'), fc.constantFrom('netns exec c1 touch /tmp/wtfuzz', 'link del lo', '10.0.0.66 bank', 'nameserver 10.6.6.6', '/../../x', '')).map(([sep, tail]) => `${VALID[field]}${sep}${tail}`) },
    { weight: 1, arbitrary: fc.constant(VALID[field]!) },
    { weight: 2, arbitrary: str },
  );

/**
 * A minimal valid set of manifests (a network, two containers) with one field of the first
 * container (or of the network) attacked: valid text with a line break and a payload appended,
 * or random text. Mostly everything else is valid, so the text reaches the deepest layer.
 */
export const fieldAttack: fc.Arbitrary<unknown[]> = fc
  .constantFrom(...Object.keys(VALID))
  .chain((field) => attackText(field).map((text) => [field, text] as const))
  .map(([field, text]) => {
    const value = LISTS.has(field) ? [text] : text;
    const ep: Record<string, unknown> = {};
    const spec: Record<string, unknown> = { networks: { n1: ep } };
    const net: Record<string, unknown> = { ipam: { config: [{ subnet: '10.20.0.0/24' }] } };
    if (['macAddress', 'aliases', 'links', 'ipv4Address'].includes(field)) ep[field] = value;
    else if (['servers', 'search', 'options'].includes(field)) spec['dns'] = { [field]: value };
    else if (field === 'driver') net['driver'] = value;
    else if (field === 'bridgeName') net['options'] = { 'com.docker.network.bridge.name': value };
    else spec[field] = value;
    return [
      { apiVersion: 'weft/v1', kind: 'Network', metadata: { name: 'n1' }, spec: net },
      { apiVersion: 'weft/v1', kind: 'Container', metadata: { name: 'c1' }, spec },
      { apiVersion: 'weft/v1', kind: 'Container', metadata: { name: 'c2' }, spec: { networks: ['n1'] } },
    ];
  });

function dump(docs: readonly unknown[]): string {
  return docs.map((d) => jsYaml.dump(d, { skipInvalid: true, noRefs: true, lineWidth: -1 })).join('---\n');
}

/** Raw text damage: characters inserted at random places (YAML syntax, tabs, control bytes). */
const damage = fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(':', '-', '\t', '{', '[', '"', "'", '\n', '#', '&a', '*a', '!!js/function', '\u0000'), fc.string({ unit: 'binary', maxLength: 3 }))), { maxLength: 3 });

/** A manifest file's text: random documents, a mutated example, sometimes damaged as text. */
export function manifestText(examples: unknown[][]): fc.Arbitrary<string> {
  const docs = fc.oneof(
    { weight: 1, arbitrary: fc.array(randomDocument, { minLength: 1, maxLength: 4 }) },
    { weight: 1, arbitrary: mutatedExample(examples) },
    { weight: 1, arbitrary: oneStringReplaced(examples) },
    // Most accepted documents come from here: one field attacked, the rest valid.
    { weight: 3, arbitrary: fieldAttack },
  );
  return fc.tuple(docs, fc.oneof({ weight: 4, arbitrary: fc.constant([] as [number, string][]) }, { weight: 1, arbitrary: damage })).map(([d, dmg]) => {
    let text = dump(d);
    for (const [at, s] of dmg) {
      const i = at % (text.length + 1);
      text = text.slice(0, i) + s + text.slice(i);
    }
    return text;
  });
}

/** How many runs: FUZZ_RUNS from the environment (npm run fuzz), or the default for CI. */
export function fuzzRuns(defaultRuns: number): number {
  const n = Number(process.env['FUZZ_RUNS']);
  return Number.isInteger(n) && n > 0 ? n : defaultRuns;
}

/** The seed: FUZZ_SEED to replay a failure, or a fresh one (printed by fast-check on failure). */
export function fuzzSeed(): number | undefined {
  const n = Number(process.env['FUZZ_SEED']);
  return Number.isInteger(n) ? n : undefined;
}
