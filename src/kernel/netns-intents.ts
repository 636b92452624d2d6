import { constants } from 'node:fs';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * weft's intent to create a namespace, recorded before `ip netns add` and dropped once the
 * namespace carries its tag (the loopback's ifalias, which lives and dies with the namespace).
 * It covers the one window the tag cannot: a crash after the namespace exists and before its
 * loopback is tagged. Such a namespace is adopted only while an intent names it and it holds
 * nothing but what weft puts there first (see providers/ownership.ts); any other untagged
 * namespace of that name is someone else's. Kept in /run, a tmpfs that a reboot clears along
 * with every namespace.
 */
export const INTENT_DIR = '/run/weft/netns-intent';

/** A namespace name as a file name: names come validated, but a path must never escape the folder. */
function intentPath(dir: string, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new Error(`internal: ${JSON.stringify(name)} is not a namespace name`);
  }
  return path.join(dir, name);
}

/** Records intents for `names` (before creating them). */
export async function recordIntents(names: readonly string[], dir = INTENT_DIR): Promise<void> {
  if (names.length === 0) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const body = `${JSON.stringify({ pid: process.pid, since: new Date().toISOString() })}\n`;
  await Promise.all(
    names.map(async (n) => {
      // O_NOFOLLOW: a link planted under the name is refused, never written through.
      const fh = await open(intentPath(dir, n), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
      await fh.writeFile(body);
      await fh.close();
    }),
  );
}

/** Drops the intents for `names` (created and tagged, or deleted, or never created). */
export async function dropIntents(names: Iterable<string>, dir = INTENT_DIR): Promise<void> {
  await Promise.all([...names].map((n) => rm(intentPath(dir, n), { force: true })));
}

/** The namespace names with an intent recorded. */
export async function readIntents(dir = INTENT_DIR): Promise<Set<string>> {
  try {
    return new Set(await readdir(dir));
  } catch {
    return new Set();
  }
}
