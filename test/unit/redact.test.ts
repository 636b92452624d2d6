import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { redactDeep, redactSecrets } from '../../src/redact.js';
import { GitSource } from '../../src/reconcile/index.js';

describe('credentials never shown (finding 6)', () => {
  it('redacts userinfo and secret-looking query values, keeps the rest of the URL', () => {
    expect(redactSecrets('https://user:pw@git.example/r.git')).toBe('https://***@git.example/r.git');
    expect(redactSecrets('https://ghp_abc123@github.com/o/r')).toBe('https://***@github.com/o/r');
    expect(redactSecrets('https://h/r?private_token=x1&ref=main&X-Amz-Signature=y2')).toBe('https://h/r?private_token=***&ref=main&X-Amz-Signature=***');
    expect(redactSecrets('etcd://root:pw@10.0.0.1:2379?ttl=10')).toBe('etcd://***@10.0.0.1:2379?ttl=10');
    expect(redactSecrets("fatal: unable to access 'https://u:p@h/r/': refused")).toBe("fatal: unable to access 'https://***@h/r/': refused");
    // Not secrets: scp-style git addresses, mail addresses outside URLs, paths with "@".
    expect(redactSecrets('git@github.com:o/r.git')).toBe('git@github.com:o/r.git');
    expect(redactSecrets('https://h/o/r@v1')).toBe('https://h/o/r@v1');
    expect(redactDeep({ a: ['https://u:p@h/'], n: 1, b: { c: 'x?token=1' } })).toEqual({ a: ['https://***@h/'], n: 1, b: { c: 'x?token=***' } });
  });

  it('a git source shows and logs its URL without credentials, failures included', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-redact-'));
    try {
      // Port 1 on loopback: git fails at once, and its message would repeat the URL.
      const url = 'http://weft-bot:s3cr3t@127.0.0.1:1/net.git?access_token=tok-9';
      const s = new GitSource({ url, ref: 'main', intervalMs: 60_000, dir, log: silentLogger });
      expect(JSON.stringify(s.info)).not.toMatch(/s3cr3t|tok-9|weft-bot/);
      const err = await s.load().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      const shown = `${String(err)} ${(err as Error).stack ?? ''} ${JSON.stringify(err)}`;
      expect(shown).toContain('127.0.0.1:1');
      expect(shown).not.toMatch(/s3cr3t|tok-9|weft-bot/);
      await s.recordApplied('abc');
      expect(await readFile(path.join(dir, 'weft-applied.json'), 'utf8')).not.toMatch(/s3cr3t|tok-9/);
      await s.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
