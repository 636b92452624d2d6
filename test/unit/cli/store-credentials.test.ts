import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GlobalOptions } from '../../../src/cli/context.js';
import { storeCredentials } from '../../../src/cli/store.js';
import { UsageError } from '../../../src/errors.js';

/** Store credentials: files and user from flags or WEFT_STORE_*, the password never from argv. */
describe('store credentials', () => {
  let dir = '';
  const g = (extra: Partial<GlobalOptions> = {}): GlobalOptions => ({ stateDir: '/nonexistent', logLevel: 'warn', store: 'etcds://a:1', ...extra });
  const f = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-creds-'));
    await writeFile(f('ca.pem'), 'CA');
    await writeFile(f('cert.pem'), 'CERT');
    await writeFile(f('key.pem'), 'KEY');
    await writeFile(f('pw'), 'from-file\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads TLS files from flags, falling back to the environment', async () => {
    const c = await storeCredentials(g({ storeCa: f('ca.pem'), storeCert: f('cert.pem') }), { WEFT_STORE_KEY: f('key.pem') });
    expect([c.ca?.toString(), c.cert?.toString(), c.key?.toString()]).toEqual(['CA', 'CERT', 'KEY']);
    expect(c.user).toBeUndefined();
  });

  it('takes the password from WEFT_STORE_PASSWORD or a file (without its final newline); a flag beats the environment', async () => {
    expect(await storeCredentials(g({ storeUser: 'weft' }), { WEFT_STORE_PASSWORD: 'from-env' })).toEqual({ user: 'weft', password: 'from-env' });
    expect(await storeCredentials(g({ storeUser: 'weft', storePasswordFile: f('pw') }), { WEFT_STORE_PASSWORD: 'from-env', WEFT_STORE_USER: 'other' })).toEqual({ user: 'weft', password: 'from-file' });
    expect(await storeCredentials(g(), { WEFT_STORE_USER: 'env-user', WEFT_STORE_PASSWORD_FILE: f('pw') })).toEqual({ user: 'env-user', password: 'from-file' });
  });

  it('refuses half a client certificate, a password without a user, and unreadable files (naming the file, not its content)', async () => {
    await expect(storeCredentials(g({ storeCert: f('cert.pem') }), {})).rejects.toThrow(/--store-cert and --store-key go together/);
    await expect(storeCredentials(g(), { WEFT_STORE_PASSWORD: 'secret' })).rejects.toThrow(/without a user/);
    const err = await storeCredentials(g({ storeCa: f('missing.pem') }), {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String(err)).toMatch(/--store-ca .*missing\.pem: cannot read it \(ENOENT\)/);
  });
});
