import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCni } from '../../../src/plugins/cni/index.js';

/** Plugin binaries as shell scripts: what a broken or hostile plugin can answer. */
describe('running a CNI plugin', () => {
  let dir: string;
  const plugin = async (name: string, body: string) => {
    const file = path.join(dir, name);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
    return file;
  };
  const call = (binary: string, timeoutMs = 10_000) => runCni({ binary, command: 'ADD', containerId: 'c', netns: '/run/netns/x', ifname: 'eth0', path: dir, stdin: { cniVersion: '1.0.0' }, hostNetns: '', timeoutMs });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-cniexec-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes the CNI environment and the configuration on stdin; parses the answer', async () => {
    const echo = await plugin('echo', 'printf \'{"cmd":"%s","ctr":"%s","ns":"%s","if":"%s","stdin":%s}\' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$(cat)"');
    expect(await call(echo)).toEqual({ cmd: 'ADD', ctr: 'c', ns: '/run/netns/x', if: 'eth0', stdin: { cniVersion: '1.0.0' } });
  });

  it('reports a CNI error object as one printable line', async () => {
    const err = await plugin('err', 'printf \'{"code":7,"msg":"no\\\\nway","details":"x"}\'; exit 1');
    await expect(call(err)).rejects.toThrow('err ADD failed (exit 1): no way: x (CNI error 7)');
  });

  it('refuses garbage, oversized answers and plugins that do not answer in time', async () => {
    await expect(call(await plugin('junk', 'echo "<html>"'))).rejects.toThrow('junk ADD answered something that is not JSON');
    await expect(call(await plugin('flood', 'head -c 3000000 /dev/zero | tr "\\0" "a"'))).rejects.toThrow('flood ADD printed more than 1048576 bytes (killed)');
    const started = Date.now();
    await expect(call(await plugin('slow', 'sleep 30'), 500)).rejects.toThrow('slow ADD did not answer within 500 ms (killed)');
    expect(Date.now() - started).toBeLessThan(20_000);
    await expect(call(path.join(dir, 'absent'))).rejects.toThrow('cannot run');
  });
});
