import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCreated, recordCreated } from '../../../src/cli/records.js';
import type { GlobalOptions } from '../../../src/cli/context.js';
import type { ReconcileResult } from '../../../src/reconcile/index.js';

// Issue 16: the networks record is replaced whole (temporary file, then rename): never half
// written by a killed weft, never written through a link planted at its name.

const created = (name: string) =>
  ({ plan: { changes: [{ domain: 'links', action: 'create', desired: { owner: { kind: 'network', name } } }] } }) as unknown as ReconcileResult;

describe('networks record', () => {
  let dir: string;
  let g: GlobalOptions;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'records-test-'));
    g = { stateDir: path.join(dir, 'state'), hostNetns: 'h1', logLevel: 'silent' };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('adds to the record and leaves no temporary file', async () => {
    await recordCreated(g, created('n1'));
    await recordCreated(g, created('n2'));
    expect(Object.keys(await readCreated(g)).sort()).toEqual(['n1', 'n2']);
    expect(await readdir(g.stateDir)).toEqual(['h1.networks.json']);
  });

  it('replaces a symlink at the record\'s name instead of writing through it', async () => {
    await recordCreated(g, created('n1'));
    const victim = path.join(dir, 'victim');
    await writeFile(victim, 'precious\n');
    await rm(path.join(g.stateDir, 'h1.networks.json'));
    await symlink(victim, path.join(g.stateDir, 'h1.networks.json'));
    await recordCreated(g, created('n2'));
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect(Object.keys(await readCreated(g))).toEqual(['n2']);
  });
});
