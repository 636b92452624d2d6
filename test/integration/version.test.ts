import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { must, repoRoot, run, weftBin } from '../support/netns.js';

describe('weft version (the built CLI)', () => {
  const temp: string[] = [];
  afterAll(async () => {
    for (const d of temp) await rm(d, { recursive: true, force: true });
  });

  it('prints the package version, the commit built from, the kernel release and the tools found', { timeout: 120_000 }, async () => {
    const r = await run(['node', weftBin, 'version']);
    expect(r.code).toBe(0);
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const built = JSON.parse(await readFile(path.join(repoRoot, 'dist/build-info.json'), 'utf8')) as { commit: string };
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`weft ${pkg.version}`);
    // The commit recorded at build time is a real commit of this repository.
    expect(built.commit).toMatch(/^[0-9a-f]{40}$/);
    expect((await must(['git', '-C', repoRoot, 'cat-file', '-t', built.commit])).trim()).toBe('commit');
    expect(r.stdout).toMatch(new RegExp(`^commit: +${built.commit}`, 'm'));
    expect(r.stdout).toContain(`kernel:   Linux ${os.release()}`);
    expect(r.stdout).toContain(`node:     ${process.version}`);
    expect(r.stdout).toMatch(/^nftables: nftables v\d/m);
    expect(r.stdout).toMatch(/^iproute2: ip utility, iproute2-/m);
    // --version is the same report.
    const flag = await run(['node', weftBin, '--version']);
    expect(flag.code).toBe(0);
    expect(flag.stdout.split('\n')[0]).toBe(lines[0]);
    expect(flag.stdout).toMatch(new RegExp(`^commit: +${built.commit}`, 'm'));
    const json = JSON.parse((await run(['node', weftBin, 'version', '--json'])).stdout) as { weft: string; kernel: string };
    expect(json).toMatchObject({ weft: pkg.version, kernel: os.release() });
  });

  it('the build records "unknown" outside a git checkout', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-buildinfo-'));
    temp.push(dir);
    await mkdir(path.join(dir, 'scripts'));
    await mkdir(path.join(dir, 'dist'));
    await cp(path.join(repoRoot, 'scripts/build-info.mjs'), path.join(dir, 'scripts/build-info.mjs'));
    await must(['node', path.join(dir, 'scripts/build-info.mjs')]);
    const info = JSON.parse(await readFile(path.join(dir, 'dist/build-info.json'), 'utf8')) as { commit: string; dirty: boolean };
    expect(info).toMatchObject({ commit: 'unknown', dirty: false });
  });
});
