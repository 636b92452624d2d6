import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import type { SourceEvent } from '../../../src/reconcile/index.js';
import { GitSource, SourceError } from '../../../src/reconcile/index.js';
import { parseCatFileBatch } from '../../../src/reconcile/git-source.js';
import { GitRemote } from '../../support/git-repo.js';
import { yaml } from '../../support/world.js';

describe('git source (a local bare repository)', () => {
  let remote: GitRemote;
  const sources: GitSource[] = [];
  beforeEach(async () => {
    remote = await GitRemote.create();
  });
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()));
    await remote.cleanup();
  });

  const source = (opts: { path?: string; ref?: string; url?: string } = {}) => {
    const s = new GitSource({ url: opts.url ?? remote.url, ref: opts.ref ?? 'main', ...(opts.path ? { path: opts.path } : {}), intervalMs: 20, dir: path.join(remote.dir, 'weft-src'), log: silentLogger });
    sources.push(s);
    return s;
  };

  it('loads the manifests under --path at the ref\'s commit, with repository-relative file names', async () => {
    const c1 = await remote.commit({ 'deploy/net.yaml': yaml.network('n1'), 'deploy/c.yml': yaml.container('c1', '{networks: [n1]}'), 'README.md': '# not a manifest', 'other/x.yaml': 'garbage: [' });
    const s = source({ path: 'deploy' });
    const loaded = await s.load();
    expect(loaded.revision).toBe(c1);
    expect(loaded.invalid).toBeUndefined();
    expect([...(loaded.model?.containers.keys() ?? [])]).toEqual(['c1']);
    await s.recordApplied(c1);
  });

  it('an invalid commit is a result naming the file in the repository; a poll notices new commits', async () => {
    await remote.commit({ 'deploy/net.yaml': yaml.network('n1') });
    const s = source({ path: 'deploy' });
    const first = await s.load();
    const events: SourceEvent['kind'][] = [];
    s.watch((e) => events.push(e.kind));
    const bad = await remote.commit({ 'deploy/net.yaml': 'apiVersion: weft/v1\nkind: Network\nmetadata: {name: n1}\nspec: {driver: bridge, ipam: {config: [{subnet: nope}]}}\n' });
    await expect.poll(() => events.includes('changed'), { timeout: 5000 }).toBe(true);
    const loaded = await s.load();
    expect(loaded.revision).toBe(bad);
    expect(loaded.model).toBeUndefined();
    expect(loaded.invalid?.problems[0]).toMatchObject({ pos: { file: 'deploy/net.yaml', line: 4 } });
    expect(first.revision).not.toBe(bad);
  });

  it('a missing ref or repository is a SourceError with git\'s message', async () => {
    await remote.commit({ 'net.yaml': yaml.network('n1') });
    await expect(source({ ref: 'no-such-branch' }).load()).rejects.toThrow(/couldn't find remote ref no-such-branch/);
    await expect(source({ url: path.join(remote.dir, 'nothing.git') }).load()).rejects.toBeInstanceOf(SourceError);
  });

  it('a commit without manifests under --path is invalid, not empty', async () => {
    await remote.commit({ 'net.yaml': yaml.network('n1') });
    const loaded = await source({ path: 'deploy' }).load();
    expect(loaded.invalid?.problems[0]?.code).toBe('NO_MANIFESTS');
  });

  it('parses cat-file --batch output byte-exactly', () => {
    const out = Buffer.from('abc blob 6\nä: 1\n\ndef blob 0\n\nx:y missing\n', 'utf8');
    expect(parseCatFileBatch(out)).toEqual(['ä: 1\n', '', '']);
  });
});
