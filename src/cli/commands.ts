import type { Command } from 'commander';
import { Option } from 'commander';
import { UsageError } from '../errors.js';
import { loadModel } from '../model/index.js';
import { predefinedNetworks } from '../model/build.js';
import { acquireLock, destroy, reconcile } from '../reconcile/index.js';
import type { ReconcileContext, ReconcileResult } from '../reconcile/index.js';
import { providers } from '../providers/index.js';
import { inspectNetworks } from '../inspect/networks.js';
import type { GlobalOptions } from './context.js';
import { makeContext, makeLogger, modelDrivers } from './context.js';
import { compile, emptyAllocations } from '../compile/index.js';
import { planJson, printLines, printPluginFailures, printResult, summary } from './output.js';
import { readCreated, recordCreated } from './records.js';
import { runExec } from './exec.js';
import { hostNamespaceRule } from './netns-guard.js';
import { registerStatusCommand } from './status.js';
import { reexecInHostNetns, registerWatchCommand } from './watch.js';
import { registerVersionCommand } from './version.js';
import { registerGraphCommand } from './graph.js';
import { ProgressLine } from './progress.js';
import { closing, openStore, peerSource, publishResult } from './store.js';

interface FileOpts {
  file?: string[];
}

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

function files(opts: FileOpts): string[] {
  if (!opts.file || opts.file.length === 0) throw new UsageError('no manifests given; pass files or folders with -f PATH');
  return opts.file;
}

const fileOption = () => new Option('-f, --file <paths...>', 'manifest files or folders (repeatable)');

async function withLock<T>(g: GlobalOptions, command: string, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(g.stateDir, g.hostNetns ?? '', command);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * With --store under --host-netns, the command runs itself again inside that namespace (Node
 * cannot enter one): its store connection must leave from the host it manages, never from the
 * machine's own namespace. Returns true when this process handed over (the exit code is set).
 */
async function handedOver(cmd: Command): Promise<boolean> {
  const g = globals(cmd);
  return g.store !== undefined && (await reexecInHostNetns(g));
}

/** Global options, logger, validated model, membership store (--store) and reconcile context: what every writer/planner needs. */
async function setup(cmd: Command, opts: FileOpts) {
  const g = globals(cmd);
  const log = makeLogger(g);
  const model = await loadModel(files(opts), [hostNamespaceRule(g.hostNetns, { requireExisting: cmd.name() !== 'destroy' })]);
  const store = await openStore(g, log);
  const ctx = await makeContext(g, model, log, peerSource(store, log));
  return { g, log, model, ctx, store };
}

/** Runs a writer with a progress line on stderr (a terminal only; see ProgressLine), erased at the end. */
async function withProgress<T>(g: GlobalOptions, ctx: ReconcileContext, fn: (ctx: ReconcileContext) => Promise<T>): Promise<T> {
  const line = new ProgressLine(process.stderr, { jsonLogs: g.logFormat === 'json' });
  try {
    return await fn({ ...ctx, progress: line.update });
  } finally {
    line.stop();
  }
}

export function registerCommands(program: Command): void {
  program
    .command('apply')
    .description('converge the kernel to the manifests; print what changed')
    .addOption(fileOption())
    .option('--dry-run', 'show what would change, write nothing')
    .option('--prune', 'also remove containers and networks no longer in the manifests')
    .option('--detail', 'one line per kernel object instead of per declared object')
    .action(async (opts: FileOpts & { dryRun?: boolean; prune?: boolean; detail?: boolean }, cmd: Command) => {
      if (await handedOver(cmd)) return;
      const { g, log, model, ctx, store } = await setup(cmd, opts);
      const result: ReconcileResult = await closing(store, async () => {
        const run = () => withProgress(g, ctx, (c) => reconcile(model, c, { prune: opts.prune ?? false, dryRun: opts.dryRun ?? false }));
        const r = opts.dryRun ? await run() : await withLock(g, 'apply', run);
        if (store && !opts.dryRun) await publishResult(store, r);
        return r;
      });
      printResult(result, { detail: opts.detail ?? false, verb: opts.dryRun ? 'plan' : 'applied' });
      if (result.applied) await recordCreated(g, result);
      console.error(summary(result, opts.dryRun ?? false));
      // A plugin's failure is its network's: the rest converged; exit 1 names the network.
      if (printPluginFailures(result)) process.exitCode = 1;
      log.info({ changes: result.plan.changes.length, ms: Math.round(result.durationMs), ...result.stats }, 'reconcile finished');
    });

  program
    .command('plan')
    .description('show what apply would change; write nothing')
    .addOption(fileOption())
    .option('--json', 'machine-readable output')
    .option('--prune', 'plan the removal of orphans too')
    .option('--detail', 'one line per kernel object instead of per declared object')
    .action(async (opts: FileOpts & { json?: boolean; prune?: boolean; detail?: boolean }, cmd: Command) => {
      if (await handedOver(cmd)) return;
      const { model, ctx, store } = await setup(cmd, opts);
      const result = await closing(store, () => reconcile(model, ctx, { prune: opts.prune ?? false, dryRun: true }));
      if (opts.json) console.log(JSON.stringify({ ...planJson(result.plan, providers), plugins: pluginJson(result) }, null, 2));
      else printResult(result, { detail: opts.detail ?? false, verb: 'plan' });
      if (printPluginFailures(result)) process.exitCode = 1;
    });

  program
    .command('destroy')
    .description('remove everything weft owns for these manifests')
    .addOption(fileOption())
    .option('--dry-run', 'show what would be removed')
    .option('--detail', 'one line per kernel object instead of per declared object')
    .action(async (opts: FileOpts & { dryRun?: boolean; detail?: boolean }, cmd: Command) => {
      if (await handedOver(cmd)) return;
      const { g, model, ctx, store } = await setup(cmd, opts);
      const result = await closing(store, async () => {
        const run = () => withProgress(g, ctx, (c) => destroy(model, c, { dryRun: opts.dryRun ?? false }));
        const r = opts.dryRun ? await run() : await withLock(g, 'destroy', run);
        // This node's endpoints leave the store with its containers.
        if (store && !opts.dryRun) await publishResult(store, r, { none: true });
        return r;
      });
      printResult(result, { detail: opts.detail ?? false, verb: opts.dryRun ? 'plan' : 'applied' });
      console.error(summary(result, opts.dryRun ?? false));
      if (printPluginFailures(result)) process.exitCode = 1;
    });

  program
    .command('dns')
    .description('the embedded DNS server alone (follows manifest edits); runs until stopped')
    .addOption(fileOption())
    .action(async (opts: FileOpts, cmd: Command) => {
      // Loaded here: the DNS server (dns2) is for `weft dns` and `watch` only, not every run's start-up.
      const { runDns } = await import('./dns.js');
      process.exitCode = await runDns(globals(cmd), files(opts));
    });

  program
    .command('validate')
    .description('check manifests only; exit 0 valid, 2 invalid')
    .addOption(fileOption())
    .action(async (opts: FileOpts) => {
      const model = await loadModel(files(opts));
      // Some problems only show when compiling (exhausted address pools). A plugin driver is a
      // name here: validate neither finds nor calls it (it may be installed later).
      compile(model, { hostNetns: '', allocations: emptyAllocations(), hostResolvConf: '', hostRoutes: [] }, modelDrivers(model));
      console.log(`valid: ${model.networks.size} networks (3 predefined), ${model.containers.size} containers, ${model.hosts.size} hosts`);
    });

  const network = program.command('network').description('Docker-compatible views of the networks weft manages');
  network
    .command('ls')
    .description('list networks')
    .addOption(fileOption())
    .option('-q, --quiet', 'only network ids')
    .action(async (opts: FileOpts & { quiet?: boolean }, cmd: Command) => {
      if (await handedOver(cmd)) return;
      const nets = await observedNetworks(globals(cmd), opts);
      if (opts.quiet) return printLines(nets.map((n) => n.Id.slice(0, 12)));
      const rows = [['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...nets.map((n) => [n.Id.slice(0, 12), n.Name, n.Driver, n.Scope])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)) + 3);
      printLines(rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('')));
    });
  network
    .command('inspect')
    .description('details of networks as JSON (docker network inspect)')
    .argument('<names...>')
    .addOption(fileOption())
    .action(async (names: string[], opts: FileOpts, cmd: Command) => {
      if (await handedOver(cmd)) return;
      const nets = await observedNetworks(globals(cmd), opts);
      const found = names.map((n) => nets.find((x) => x.Name === n || x.Id.startsWith(n)));
      console.log(JSON.stringify(found.filter((n) => n !== undefined), null, 4));
      const missing = names.filter((_, i) => !found[i]);
      if (missing.length > 0) {
        for (const m of missing) console.error(`Error: No such network: ${m}`);
        process.exitCode = 1;
      }
    });

  program
    .command('exec')
    .description('run CMD inside the container\'s namespace (like docker exec): weft exec CONTAINER -- CMD...')
    .argument('<container>')
    .action(async (container: string, _opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const passthrough = (cmd.parent?.getOptionValue('passthrough') as string[] | undefined) ?? [];
      process.exitCode = await runExec(g, container, passthrough);
    });

  registerWatchCommand(program);
  registerStatusCommand(program);
  registerGraphCommand(program);
  registerVersionCommand(program);
}

/** The plugin phase for `plan --json`: changes (without the resolved requests), failures, warnings. */
function pluginJson(r: ReconcileResult) {
  return {
    changes: r.plugins.changes.map((c) => ({ action: c.action, kind: c.kind, network: c.network, container: c.container, ...(c.reason !== undefined ? { reason: c.reason } : {}) })),
    failures: r.plugins.failures,
    warnings: r.plugins.warnings,
  };
}

/** Networks as the kernel has them, with manifest details when -f is given. Read-only. */
async function observedNetworks(g: GlobalOptions, opts: FileOpts) {
  const log = makeLogger(g);
  const model = opts.file?.length ? await loadModel(opts.file) : await loadModel([]);
  const ctx = await makeContext(g, model, log);
  const result = await reconcile(model, ctx, { prune: false, dryRun: true });
  return inspectNetworks({
    observed: result.observed,
    ...(opts.file?.length ? { topology: result.topology } : {}),
    predefined: predefinedNetworks(),
    created: await readCreated(g),
    plugins: (await ctx.plugins?.store.list()) ?? [],
  });
}
