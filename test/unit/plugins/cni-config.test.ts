import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cniRequest } from '../../../src/plugins/cni/index.js';
import { attachment } from '../../support/plugins.js';

describe('CNI configuration files (spec.cni.conflist)', () => {
  let dir: string;
  const att = (conflist: string) => ({ ...attachment('podnet', 'a'), spec: { kind: 'cni' as const, cni: { conflist } } });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-cniconf-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads NAME.conflist, and a .conf file as a list of one plugin', async () => {
    await writeFile(path.join(dir, 'podnet.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'podnet', plugins: [{ type: 'bridge' }] }));
    expect((await cniRequest(att('podnet'), dir)).config.plugins).toEqual([{ type: 'bridge' }]);
    await writeFile(path.join(dir, 'single.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'podnet', type: 'ptp' }));
    expect((await cniRequest(att('single'), dir)).config).toEqual({ cniVersion: '0.4.0', name: 'podnet', plugins: [{ type: 'ptp' }] });
  });

  it('checks a file as strictly as a manifest: its name, its plugin types', async () => {
    await writeFile(path.join(dir, 'other.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'bridge' }] }));
    await expect(cniRequest(att('other'), dir)).rejects.toThrow('other: at name: network "podnet": the CNI configuration is named "other"');
    await writeFile(path.join(dir, 'evil.conflist'), JSON.stringify({ cniVersion: '1.0.0', plugins: [{ type: '../../bin/sh' }] }));
    await expect(cniRequest(att('evil'), dir)).rejects.toThrow('is not a plugin name');
  });

  it('refuses paths, symlinks, folders, non-JSON and missing files', async () => {
    await expect(cniRequest(att('../etc/passwd'), dir)).rejects.toThrow('is not a file name');
    await writeFile(path.join(dir, 'real.conflist'), JSON.stringify({ cniVersion: '1.0.0', plugins: [{ type: 'bridge' }] }));
    await symlink(path.join(dir, 'real.conflist'), path.join(dir, 'link.conflist'));
    await expect(cniRequest(att('link'), dir)).rejects.toThrow('is not a regular file');
    await mkdir(path.join(dir, 'folder.conflist'));
    await expect(cniRequest(att('folder'), dir)).rejects.toThrow('is not a regular file');
    await writeFile(path.join(dir, 'text.conflist'), 'not json');
    await expect(cniRequest(att('text'), dir)).rejects.toThrow('is not JSON');
    await expect(cniRequest(att('nothing'), dir)).rejects.toThrow(`no CNI configuration "nothing" in ${dir}`);
  });

  it('passes portMappings only when a plugin declares the capability', async () => {
    const ports = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }];
    const inline = (plugins: unknown[]) => ({ ...attachment('podnet', 'a'), portMappings: ports, spec: { kind: 'cni' as const, cni: { config: { cniVersion: '1.0.0', plugins } } } });
    expect((await cniRequest(inline([{ type: 'bridge' }]), dir)).portMappings).toBeUndefined();
    expect((await cniRequest(inline([{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }]), dir)).portMappings).toEqual(ports);
  });
});
