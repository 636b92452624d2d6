import { startDnsServer } from '../dns/index.js';
import { InvalidManifestError } from '../errors.js';
import { inHostNetns, onParentGone, reexecInNetns } from '../kernel/index.js';
import type { Kernel } from '../kernel/index.js';
import { FileSource, Trigger, compileAgainstKernel, readHostResolvConf } from '../reconcile/index.js';
import type { Batch } from '../reconcile/index.js';
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
 *
 * It runs on the daemon's machinery: the manifests come from the same FileSource (chokidar) and
 * reloads are debounced and serialised by the same Trigger as `weft watch`'s reconciles.
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
  const source = new FileSource(paths);
  let loaded = '';
  const reload = async (batch: Batch): Promise<void> => {
    const why = [...batch.reasons].sort().join(',');
    try {
      // A resync alone reloads only when something a file event does not show has changed
      // (looked at without parsing: a reload runs on the thread that answers).
      const now = `${await source.revision()}\n${await fingerprint(kernel, hostNetns)}`;
      if (batch.reasons.size === 1 && batch.reasons.has('resync') && now === loaded) return;
      loaded = now;
      const got = await source.load();
      if (got.invalid) throw got.invalid;
      if (!got.model) return;
      const started = performance.now();
      const ctx = await makeContext(g, got.model, log, peerSource(store, log), kernel);
      const compiled = await compileAgainstKernel(got.model, ctx);
      server.update(compiled.topology, await readHostResolvConf(ctx.kernel, hostNetns));
      const s = server.stats();
      log.info({ why, ms: Math.round(performance.now() - started), clients: s.clients, listening: s.listening, pending: s.pending }, 'dns: records loaded');
    } catch (err) {
      // Invalid manifests wait for an edit; anything else (a namespace read while an apply runs)
      // is tried again at the next resync.
      if (!(err instanceof InvalidManifestError)) loaded = '';
      log.error({ why, error: err instanceof Error ? err.message : String(err) }, 'dns: cannot load the manifests; keeping the last good records');
    }
  };
  const trigger = new Trigger(reload, {
    delayMs: { start: 0, manifest: DEBOUNCE_MS, drift: DEBOUNCE_MS, resync: 0, signal: 0, retry: 0, store: DEBOUNCE_MS },
    maxWaitMs: 10 * DEBOUNCE_MS,
  });
  trigger.poke('start');
  await trigger.idle();

  source.watch((e) => {
    if (e.kind === 'changed') trigger.poke('manifest');
  });
  const unwatchStore = store
    ? await store.watch(() => trigger.poke('store')).catch((err: unknown) => {
        log.error({ error: err instanceof Error ? err.message : String(err) }, 'dns: cannot watch the membership store; its changes show at the next resync');
        return undefined;
      })
    : undefined;
  const resync = setInterval(() => trigger.poke('resync'), RESYNC_MS);

  process.on('SIGHUP', () => trigger.poke('signal'));
  await stopped;
  log.debug('dns: stopping');
  unwatchParent();
  clearInterval(resync);
  await trigger.stop();
  await source.close();
  await unwatchStore?.();
  await store?.close();
  log.debug('dns: closing sockets');
  await server.close();
  log.debug('dns: stopped');
  return 0;
}

/**
 * What a reload depends on besides the manifests: this host's namespaces (an apply or destroy
 * changes addresses) and the host's resolv.conf (upstreams).
 */
async function fingerprint(kernel: Kernel, hostNetns: string): Promise<string> {
  const prefix = hostNetns ? `${hostNetns}-` : '';
  return [...(await kernel.listNetns()).filter((n) => n.startsWith(prefix)), await readHostResolvConf(kernel, hostNetns)].join('\n');
}
