import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecordStore, parseRecord, recordFile, requestHash } from '../../../src/plugins/index.js';
import { record } from '../../support/plugins.js';

describe('plugin record store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-records-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes, lists (sorted) and removes records, per host', async () => {
    const store = new RecordStore(dir, 'h1');
    await store.write(record('net', 'b'));
    await store.write(record('net', 'a'));
    await store.write(record('net', 'a', { checkWarning: 'portmap CHECK' }));
    expect((await store.list()).map((r) => [r.container, r.checkWarning])).toEqual([['a', 'portmap CHECK'], ['b', undefined]]);
    expect(await new RecordStore(dir, 'h2').list()).toEqual([]);
    await store.remove(record('net', 'a'));
    expect((await store.list()).map((r) => r.container)).toEqual(['b']);
    // No temporary file is left behind by the atomic write.
    expect((await readdir(store.dir)).every((f) => f.endsWith('.json') && !f.includes('.tmp'))).toBe(true);
  });

  it('names files by hash: names such as ".." never become paths', async () => {
    const store = new RecordStore(dir, 'h1');
    await store.write(record('..', '../../x'));
    expect(await readdir(store.dir)).toEqual([recordFile({ network: '..', container: '../../x' })]);
    expect((await store.list())[0]?.container).toBe('../../x');
  });

  it('skips files that are not records (truncated, foreign, renamed)', async () => {
    const store = new RecordStore(dir, 'h1');
    await store.write(record('net', 'a'));
    await writeFile(path.join(store.dir, 'garbage.json'), '{"kind": "cni"');
    await writeFile(path.join(store.dir, recordFile({ network: 'net', container: 'z' })), JSON.stringify(record('net', 'other')));
    expect((await store.list()).map((r) => r.container)).toEqual(['a']);
    expect(parseRecord('[]')).toBeUndefined();
    expect(parseRecord(JSON.stringify({ ...record('n', 'c'), result: 'x' }))).toBeUndefined();
  });

  it('hashes requests independently of key order', () => {
    expect(requestHash({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(requestHash({ b: [1, { d: 3, c: 2 }], a: 1 }));
    expect(requestHash({ a: 1 })).not.toBe(requestHash({ a: 2 }));
  });
});
