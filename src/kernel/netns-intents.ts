import { lstat, mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { TEMP_NAME, writeFileAtomic } from '../atomic-file.js';
import { processAlive } from './process-alive.js';

/**
 * weft's intent to create a namespace, recorded before `ip netns add` and dropped once the
 * namespace carries its tag (the loopback's ifalias, which lives and dies with the namespace).
 * It covers the one window the tag cannot: a crash after the namespace exists and before its
 * loopback is tagged. Such a namespace is adopted only while an intent names it and it holds
 * nothing but what weft puts there first (see providers/ownership.ts); any other untagged
 * namespace of that name is someone else's. Kept in /run, a tmpfs that a reboot clears along
 * with every namespace. Deleting records one too: `ip netns del` (and the in-process kernel)
 * unmounts, then unlinks, and a crash in between leaves the same empty file as a half-made add.
 */
export const INTENT_DIR = '/run/weft/netns-intent';

/** A namespace name as a file name: names come validated, but a path must never escape the folder. */
function intentPath(dir: string, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new Error(`internal: ${JSON.stringify(name)} is not a namespace name`);
  }
  return path.join(dir, name);
}

/** Records intents for `names` (before creating or deleting them). */
export async function recordIntents(names: readonly string[], dir = INTENT_DIR): Promise<void> {
  if (names.length === 0) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const body = `${JSON.stringify({ pid: process.pid, since: new Date().toISOString() })}\n`;
  await Promise.all(
    // Replaced whole: a kill mid-write leaves no empty intent without a PID (one that
    // clearHalfMade could never act on), and a link planted under the name is replaced.
    names.map((n) => writeFileAtomic(intentPath(dir, n), body, 0o600)),
  );
}

/** Drops the intents for `names` (created and tagged, or deleted, or never created). */
export async function dropIntents(names: Iterable<string>, dir = INTENT_DIR): Promise<void> {
  await Promise.all([...names].map((n) => rm(intentPath(dir, n), { force: true })));
}

/** The namespace names with an intent recorded (an intent being written is not one yet). */
export async function readIntents(dir = INTENT_DIR): Promise<Set<string>> {
  try {
    return new Set((await readdir(dir)).filter((n) => !TEMP_NAME.test(n)));
  } catch {
    return new Set();
  }
}

/** Removes the temporary files of intent writers that were killed (their PID is gone). */
async function sweepDeadIntentTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(TEMP_NAME.exec(name)?.[1] ?? 0);
    if (pid > 0 && pid !== process.pid && !processAlive(pid)) await rm(path.join(dir, name), { force: true });
  }
}

/**
 * Removes what an `ip netns add` killed half-way leaves: it creates the empty file
 * /run/netns/NAME first and bind-mounts the new namespace on it after, so a kill in between leaves
 * a plain empty file that no namespace will ever be mounted on (and that blocks the next add).
 * Only for names with an intent whose process is gone (a live one may be between the two steps),
 * and only a regular empty file on /run/netns's own file system (a mounted namespace is on nsfs).
 * Also removes the temporary files of intent writers that were killed. Returns the names cleared.
 */
export async function clearHalfMade(netnsDir = '/run/netns', dir = INTENT_DIR): Promise<string[]> {
  await sweepDeadIntentTemps(dir);
  const names = await readIntents(dir);
  if (names.size === 0) return [];
  const runDev = (await stat(netnsDir).catch(() => undefined))?.dev;
  if (runDev === undefined) return [];
  const cleared: string[] = [];
  for (const name of names) {
    const pid = await intentPid(intentPath(dir, name));
    if (pid === undefined || pid === process.pid || processAlive(pid)) continue;
    const file = path.join(netnsDir, name);
    const st = await lstat(file).catch(() => undefined);
    if (!st?.isFile() || st.size !== 0 || st.dev !== runDev) continue;
    await rm(file, { force: true });
    await dropIntents([name], dir);
    cleared.push(name);
  }
  return cleared;
}

async function intentPid(file: string): Promise<number | undefined> {
  try {
    const pid = (JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
