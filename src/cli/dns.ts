import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { startDnsServer } from '../dns/index.js';
import { InvalidManifestError } from '../errors.js';
import { inHostNetns, onParentGone, reexecInNetns } from '../kernel/index.js';
import type { Kernel } from '../kernel/index.js';
import { loadModel } from '../model/index.js';
import { compileAgainstKernel, readHostResolvConf } from '../reconcile/index.js';
import type { GlobalOptions } from './context.js';
import { makeContext, makeKernel, makeLogger } from './context.js';
import { openStore, peerSource } from './store.js';

/**
 * A resync looks for what file events miss (namespaces created or removed by an apply, a
 * resolv.conf edit, a lost event) and reloads only when one of those changed: a reload compiles
 * every container on the server's one thread, which would stall answers for nothing.
 */
const RESYNC_MS = 30_000;
const DEBOUNCE_MS = 150;

/**
 * `weft dns -f PATH...`: the embedded DNS server alone, in the host namespace (re-executed there
 * under --host-netns). Records come from the manifests compiled against the kernel (a dry run, so
 * addresses are the ones apply gave); manifest edits reload them. Invalid manifests keep the last
 * good records. Runs until SIGINT or SIGTERM; SIGHUP reloads. Returns the exit status.
 */
export async function runDns(g: GlobalOptions, paths: readonly string[]): Promise<number> {
  const hostNetns = g.hostNetns ?? '';
  if (!inHostNetns(hostNetns)) return reexecInNetns(hostNetns);
  const log = makeLogger(g);
  // Signals first: a stop request during the first load must not kill the process mid-way.
  let unwatchParent = () => undefined as void;
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    unwatchParent = onParentGone(() => resolve());
  });
  const kernel = makeKernel(log);
  const server = startDnsServer({ hostNetns, log, kernel });
  // --store: containers other nodes published resolve too; a change there reloads (below).
  const store = await openStore(g, log);
  let running = false;
  let again = false;
  let loaded = '';
  const refresh = async (why: string, force = true): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const now = await fingerprint(paths, kernel, hostNetns);
      if (!force && now === loaded) return;
      loaded = now;
      const started = performance.now();
      const model = await loadModel(paths);
      const ctx = await makeContext(g, model, log, peerSource(store, log), kernel);
      const compiled = await compileAgainstKernel(model, ctx);
      server.update(compiled.topology, await readHostResolvConf(ctx.kernel, hostNetns));
      const s = server.stats();
      log.info({ why, ms: Math.round(performance.now() - started), clients: s.clients, listening: s.listening, pending: s.pending }, 'dns: records loaded');
    } catch (err) {
      // Invalid manifests wait for an edit; anything else (a namespace read while an apply runs)
      // is tried again at the next resync.
      if (!(err instanceof InvalidManifestError)) loaded = '';
      log.error({ why, error: err instanceof Error ? err.message : String(err) }, 'dns: cannot load the manifests; keeping the last good records');
    } finally {
      running = false;
      if (again) {
        again = false;
        void refresh('changed while loading');
      }
    }
  };
  await refresh('start');

  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void refresh('manifests changed'), DEBOUNCE_MS);
  };
  const watchers = await watchPaths(paths, changed);
  const unwatchStore = store
    ? await store.watch(() => changed()).catch((err: unknown) => {
        log.error({ error: err instanceof Error ? err.message : String(err) }, 'dns: cannot watch the membership store; its changes show at the next resync');
        return undefined;
      })
    : undefined;
  const resync = setInterval(() => void refresh('resync', false), RESYNC_MS);

  process.on('SIGHUP', () => void refresh('SIGHUP'));
  await stopped;
  log.debug('dns: stopping');
  unwatchParent();
  clearInterval(resync);
  if (timer) clearTimeout(timer);
  for (const w of watchers) w.close();
  await unwatchStore?.();
  await store?.close();
  log.debug('dns: closing sockets');
  await server.close();
  log.debug('dns: stopped');
  return 0;
}

/**
 * What a reload depends on besides file events: the manifest files' sizes and times, this host's
 * namespaces (an apply or destroy changes addresses), and the host's resolv.conf (upstreams).
 */
async function fingerprint(paths: readonly string[], kernel: Kernel, hostNetns: string): Promise<string> {
  const parts: string[] = [];
  for (const p of paths) {
    const abs = path.resolve(p);
    const s = await stat(abs).catch(() => undefined);
    if (!s?.isDirectory()) {
      parts.push(`${abs}:${s?.mtimeMs ?? '-'}:${s?.size ?? '-'}`);
      continue;
    }
    for (const f of (await readdir(abs, { recursive: true })).sort()) {
      const fs = await stat(path.join(abs, f)).catch(() => undefined);
      if (fs?.isFile()) parts.push(`${f}:${fs.mtimeMs}:${fs.size}`);
    }
  }
  const prefix = hostNetns ? `${hostNetns}-` : '';
  parts.push(...(await kernel.listNetns()).filter((n) => n.startsWith(prefix)));
  parts.push(await readHostResolvConf(kernel, hostNetns));
  return parts.join('\n');
}

/** Watches files (through their folder: editors replace files) and folders (recursively). */
async function watchPaths(paths: readonly string[], onChange: () => void): Promise<FSWatcher[]> {
  const out: FSWatcher[] = [];
  for (const p of paths) {
    const abs = path.resolve(p);
    const isDir = await stat(abs).then((s) => s.isDirectory(), () => false);
    if (isDir) out.push(watch(abs, { recursive: true }, onChange));
    else {
      const base = path.basename(abs);
      out.push(watch(path.dirname(abs), (_event, name) => (name === null || name === base ? onChange() : undefined)));
    }
  }
  return out;
}
