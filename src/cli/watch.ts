import path from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { UsageError } from '../errors.js';
import { InProcessKernel, inHostNetns, isWeftProcess, listNsIds, onParentGone, reexecInNetns, watchKernel, watchKernelNetlink } from '../kernel/index.js';
import type { Logger } from '../log.js';
import { Daemon, FileSource, GitSource, DEFAULT_LISTEN, acquireLock, defaultDaemonOptions, hostRef, parseListen, readHostResolvConf, startStatusServer } from '../reconcile/index.js';
import type { DaemonDns, DaemonOptions, ManifestSource, MembershipStore, ReconcileContext, StatusServer } from '../reconcile/index.js';
import { EndpointCacheFile } from '../store/cache.js';
import type { GlobalOptions } from './context.js';
import { makeContext, makeLogger, modelDrivers } from './context.js';
import { parseDuration } from './duration.js';
import { topologySvgFor } from './graph.js';
import { openStore, storeRejections } from './store.js';

interface WatchOpts {
  file?: string[];
  git?: string;
  ref: string;
  path?: string;
  interval: string;
  resync: string;
  listen: string;
  prune?: boolean;
  dns: boolean;
}

/**
 * Commands that need sockets inside the host namespace run themselves again there: Node cannot
 * enter a namespace. Returns true when this process handed over (the exit code is set).
 */
export async function reexecInHostNetns(g: GlobalOptions): Promise<boolean> {
  if (inHostNetns(g.hostNetns ?? '')) return false;
  process.exitCode = await reexecInNetns(g.hostNetns ?? '');
  return true;
}

function makeSource(opts: WatchOpts, g: GlobalOptions, log: Logger): ManifestSource {
  const hasFiles = (opts.file?.length ?? 0) > 0;
  if (hasFiles === (opts.git !== undefined)) throw new UsageError('watch needs either -f PATH... or --git URL (not both)');
  if (!opts.git) return new FileSource(opts.file ?? []);
  const intervalMs = parseDuration('--interval', opts.interval);
  if (intervalMs < 1000) throw new UsageError(`--interval ${opts.interval}: poll at most once a second`);
  return new GitSource({
    url: opts.git,
    ref: opts.ref,
    ...(opts.path !== undefined ? { path: opts.path.replace(/^\/+|\/+$/g, '') || '.' } : {}),
    intervalMs,
    dir: path.join(g.stateDir, `${g.hostNetns || 'root'}.git-source`),
    log,
  });
}

/**
 * The embedded DNS server (src/dns) in the daemon's process, inside the host namespace. Its
 * records follow every reconcile that changed something, a new manifest revision, new endpoints
 * from the membership store, or a new upstream list; a converged reconcile (drift no-op, resync)
 * leaves them alone, since compiling the records runs on the thread that answers queries.
 */
async function startDns(ctx: ReconcileContext, log: Logger): Promise<DaemonDns> {
  // Loaded here, not at start-up: only the daemon and `weft dns` serve DNS (dns2).
  const { startDnsServer } = await import('../dns/index.js');
  const server = startDnsServer({ hostNetns: ctx.hostNetns, log, kernel: ctx.kernel });
  let last: { revision: string | undefined; peers: number | undefined; resolv: string } | undefined;
  return {
    async update(result, revision, peers) {
      const resolv = await readHostResolvConf(ctx.kernel, ctx.hostNetns);
      if (last && !result.applied && last.revision === revision && last.peers === peers && last.resolv === resolv) return;
      last = { revision, peers, resolv };
      server.update(result.topology, resolv);
    },
    queriesByRcode: () => Object.fromEntries(Object.entries(server.stats().responses).filter(([, n]) => n > 0)),
    close: () => server.close(),
  };
}

export function registerWatchCommand(program: Command): void {
  program
    .command('watch')
    .description('daemon: reconcile on manifest changes, git commits and kernel drift; periodic resync; HTTP status and metrics')
    .addOption(new Option('-f, --file <paths...>', 'manifest files or folders (repeatable)'))
    .addOption(new Option('--git <url>', 'a git repository to follow instead of files'))
    .addOption(new Option('--ref <ref>', 'the branch or tag to follow').default('main'))
    .addOption(new Option('--path <dir>', 'the folder inside the repository that holds the manifests'))
    .addOption(new Option('--interval <duration>', 'how often to fetch the repository').default('30s'))
    .addOption(new Option('--resync <duration>', 'full resync period (0: off)').default('60s'))
    .addOption(new Option('--listen <host:port>', 'HTTP status and metrics, inside the host namespace').default(DEFAULT_LISTEN))
    .option('--prune', 'also remove containers and networks that leave the manifests')
    .option('--no-dns', 'do not serve the embedded DNS (when weft dns or another resolver serves it)')
    .action(async (opts: WatchOpts, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      if (await reexecInHostNetns(g)) return;
      // A daemon logs one line per reconcile: info unless --log-level says otherwise.
      const level = cmd.getOptionValueSourceWithGlobals('logLevel') === 'default' ? 'info' : g.logLevel;
      const log = makeLogger({ ...g, logLevel: level });
      const listen = parseListen(opts.listen);
      const resyncMs = parseDuration('--resync', opts.resync);
      const source = makeSource(opts, g, log);
      // --store: the etcd client is loaded only then (its import costs more than the rest of weft's start).
      const store = await openStore(g, log);
      const lock = await acquireLock(g.stateDir, g.hostNetns ?? '', 'watch').catch(async (err: unknown) => {
        await store?.close();
        throw err;
      });
      try {
        await runDaemon(g, opts, { log, listen, resyncMs, source, store });
      } finally {
        await lock.release();
      }
    });
}

/**
 * The netlink monitor posts each burst of kernel events as one batch, within a millisecond of the
 * change (weft's own write's events are queued before its ACK): a short quiet time and grace do.
 */
const NETLINK_TIMING: Partial<DaemonOptions> = { debounceMs: { ...defaultDaemonOptions.debounceMs, drift: 10 }, writeGraceMs: 10 };

async function runDaemon(
  g: GlobalOptions,
  opts: WatchOpts,
  s: { log: Logger; listen: ReturnType<typeof parseListen>; resyncMs: number; source: ManifestSource; store: MembershipStore | undefined },
): Promise<void> {
  const { log } = s;
  // No progress line (makeContext sets none): the daemon's stderr is its log.
  const ctx = await makeContext(g, undefined, log);
  const host = hostRef(ctx.hostNetns);
  const dns = opts.dns ? await startDns(ctx, log) : undefined;
  // The in-process kernel follows the kernel on one netlink thread; the process kernel with `ip monitor` and `nft monitor`.
  const kernel = ctx.kernel;
  const inProcess = kernel instanceof InProcessKernel;
  const daemon = new Daemon({
    ctx,
    source: s.source,
    watchKernel: (h) => (inProcess ? watchKernelNetlink(host, h, log) : watchKernel(host, h, log)),
    listNsIds: (names) => (inProcess ? kernel.nsIds(host.path, names) : listNsIds(host, kernel.stats)),
    isOwnProcess: isWeftProcess,
    loadDrivers: (model) => Promise.resolve(modelDrivers(model)),
    ...(dns ? { dns } : {}),
    ...(s.store ? { store: s.store, storeRejections: storeRejections(log), storeCache: new EndpointCacheFile(path.join(g.stateDir, `${g.hostNetns || 'root'}.store-endpoints.json`)) } : {}),
    options: { prune: opts.prune ?? false, resyncMs: s.resyncMs, ...(inProcess ? NETLINK_TIMING : {}) },
  });
  let server: StatusServer;
  try {
    server = await startStatusServer(s.listen, daemon, { log, topologySvg: topologySvgFor(g, () => daemon.currentModel(), log) });
  } catch (err) {
    await dns?.close();
    await s.store?.close();
    throw err;
  }
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onStop = (sig: NodeJS.Signals) => {
    log.info({ signal: sig }, 'stopping: finishing the reconcile under way; the network stays as it is');
    stop();
  };
  const onHup = () => {
    log.info({ signal: 'SIGHUP' }, 'full reconcile requested');
    void daemon.forceFull();
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  // Re-executed inside --host-netns: the parent's death (even SIGKILL) stops this daemon too.
  const unwatchParent = onParentGone(() => onStop('SIGTERM'));
  try {
    log.info(
      { pid: process.pid, source: s.source.info, listen: `${server.address.host}:${server.address.port}`, hostNetns: ctx.hostNetns || '(root)', ...(s.store ? { store: s.store.url } : {}) },
      'watching',
    );
    await Promise.race([daemon.start(), stopped]);
    await stopped;
  } finally {
    await daemon.stop();
    await server.close();
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
    unwatchParent();
    log.info({}, 'stopped');
  }
}
