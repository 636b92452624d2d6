import { mkdir, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { KernelInputError } from '../errors.js';
import type { Logger } from '../log.js';
import { mapLimit } from './exec.js';
import { checkProgram } from './guard.js';
import { dropIntents } from './netns-intents.js';
import { MACHINE_NETNS, OWN_NETNS, namespaceIdentity, sameNamespace } from './netns-identity.js';
import type { KernelProgram, NsRef } from './types.js';
import { workWrites } from './types.js';

/** What both kernels (in-process and processes) do the same way around a program. */

/** File operations in flight at once when writing /etc/netns (libuv's pool runs 4; the rest queue). */
const FILE_CONCURRENCY = 32;

/**
 * Refuses a program before anything runs: a token that is not a name, address, MAC or number
 * (kernel/guard.ts), and container work aimed at the namespace weft manages as the host or at
 * the machine's own (an attached `netns` that is either, by inode). The CLI refuses such
 * manifests with their position; this catches every other way in (the daemon, a missed rule).
 * Throws KernelInputError; touches nothing.
 */
export function checkBeforeRun(program: KernelProgram): void {
  checkProgram(program);
  const hosts = [namespaceIdentity(program.host.ns.path ?? OWN_NETNS), namespaceIdentity(MACHINE_NETNS)];
  for (const w of [...(program.early ?? []), ...program.containers]) {
    if (w.ns.path === null || workWrites(w) === 0) continue;
    const id = namespaceIdentity(w.ns.path);
    // PID 1's namespace may not be readable (a sandbox): its path alone is enough to refuse.
    if (w.ns.path === MACHINE_NETNS || hosts.some((h) => sameNamespace(h, id))) {
      throw new KernelInputError(`container namespace ${w.ns.key} at`, w.ns.path, "a container's namespace (it is the host namespace or the machine's own)");
    }
  }
}

/**
 * Writes and removes a program's /etc/netns files; returns how many writes it made. Each file is
 * written under a new random name opened without following links, then renamed over the target,
 * so a reader never sees half a file and nothing planted beside it is ever written through.
 */
export async function writeNetnsFiles(f: KernelProgram['files']): Promise<number> {
  let writes = 0;
  const dirs = [...new Set(f.write.map((w) => path.dirname(w.path)))];
  await mapLimit(dirs, FILE_CONCURRENCY, (d) => mkdir(d, { recursive: true }));
  await mapLimit(f.write, FILE_CONCURRENCY, async (w) => {
    await writeFileAtomic(w.path, w.content);
    writes++;
  });
  await mapLimit(f.remove, FILE_CONCURRENCY, async (p) => {
    await rm(p, { force: true });
    writes++;
  });
  await mapLimit(f.removeDirs, FILE_CONCURRENCY, async (d) => {
    try {
      await rmdir(d);
    } catch {
      /* not empty (someone else's files) or already gone: leave it */
    }
  });
  return writes;
}

/** The text of each file, null where it cannot be read (missing, a folder): Kernel.readFiles. */
export async function readTextFiles(paths: readonly string[]): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  await mapLimit(paths, FILE_CONCURRENCY, async (p) => {
    try {
      out.set(p, await readFile(p, 'utf8'));
    } catch {
      out.set(p, null);
    }
  });
  return out;
}

/** A folder's entries, sorted; none when it does not exist: Kernel.listDir. */
export async function listFolder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/**
 * After a program ran without failure: every namespace it created or wrote now carries its tag
 * (a namespace adopted on an intent is tagged by this very program), so its intent is fulfilled.
 */
export async function dropFulfilledIntents(program: KernelProgram): Promise<void> {
  const named = [...program.netnsAdd, ...program.containers.map((w) => w.ns.path?.match(/^\/run\/netns\/([^/]+)$/)?.[1])];
  await dropIntents(new Set(named.filter((n): n is string => n !== undefined)));
}

/** Logs each stage of a program run with its duration since the previous one (debug level). */
export function stageTimer(log: Logger): (stage: string, count: number) => void {
  let t = performance.now();
  return (stage, count) => {
    log.debug({ stage, count, ms: Math.round(performance.now() - t) }, 'kernel stage done');
    t = performance.now();
  };
}

/**
 * The end of a program, the same in both kernels: the /etc/netns files, the wait for host links
 * that vanish with their namespaces (each kernel waits its own way), the fulfilled intents dropped.
 * Returns the file writes, for the kernel's stats.
 */
export async function finishProgram(
  program: KernelProgram,
  awaitGone: (ns: NsRef, links: readonly string[]) => Promise<void>,
  lap: (stage: string, count: number) => void,
): Promise<number> {
  const writes = await writeNetnsFiles(program.files);
  lap('files', program.files.write.length + program.files.remove.length);
  for (const g of program.awaitGone) await awaitGone(g.ns, g.links);
  lap('await-gone', program.awaitGone.reduce((n, g) => n + g.links.length, 0));
  await dropFulfilledIntents(program);
  return writes;
}
