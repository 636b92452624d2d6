import type { NetworkDriver } from '../compile/index.js';
import { builtinDrivers, driversFor } from '../compile/index.js';
import { UsageError } from '../errors.js';
import { InProcessKernel, RealKernel } from '../kernel/index.js';
import type { Kernel } from '../kernel/index.js';
import type { LogFormat, Logger } from '../log.js';
import { createLogger } from '../log.js';
import type { Model } from '../model/index.js';
import { providers } from '../providers/index.js';
import { RecordStore } from '../plugins/index.js';
import { CniRunner, cniOptionsFromEnv } from '../plugins/cni/index.js';
import { DockerNetworkStore, DockerPlugins, PluginRunners, dockerOptionsFromEnv } from '../plugins/docker/index.js';
import type { PeerSource, PluginSupport, ReconcileContext } from '../reconcile/index.js';

export interface GlobalOptions {
  hostNetns?: string;
  node?: string;
  /** --store etcd://HOST:PORT[?ttl=N] (etcds:// for TLS) or zk://HOST:PORT[?ttl=N] */
  store?: string;
  /** TLS files and the user for the store (the password only from the environment or a file). */
  storeCa?: string;
  storeCert?: string;
  storeKey?: string;
  storeUser?: string;
  storePasswordFile?: string;
  stateDir: string;
  logLevel: string;
  logFormat?: LogFormat;
}

export const DEFAULT_STATE_DIR = '/var/lib/weft';

export function makeLogger(g: GlobalOptions): Logger {
  if (g.logFormat !== undefined && g.logFormat !== 'json' && g.logFormat !== 'pretty') {
    throw new UsageError(`--log-format ${String(g.logFormat)}: use json or pretty`);
  }
  return createLogger(g.logLevel, g.logFormat);
}

/**
 * The network drivers for a model: the built-in ones, and a Docker remote driver for every other
 * driver name (a plugin process the plugin phase calls; src/plugins/docker). Nothing is imported or
 * run for a name: weft loads no driver code, so no command runs code a manifest names.
 */
export function modelDrivers(model: Model | undefined): Map<string, NetworkDriver> {
  return driversFor(builtinDrivers, [...(model?.networks.values() ?? [])].map((n) => n.driver));
}

/** Set to "processes" to reach the kernel through ip/nft/sh processes instead (for comparison). */
export const KERNEL_ENV = 'WEFT_KERNEL';

/** The kernel: in-process (rtnetlink, libnftables) unless WEFT_KERNEL=processes asks for the old one. */
export function makeKernel(log: Logger): Kernel {
  return process.env[KERNEL_ENV] === 'processes' ? new RealKernel({ log }) : new InProcessKernel({ log });
}

/**
 * The plugin callers and this host's record store under --state-dir: the CNI runner, and a Docker
 * remote driver runner made on first use for any other plugin name (records of a driver no longer
 * declared can then still be undone).
 */
export function makePlugins(g: GlobalOptions): PluginSupport {
  const host = g.hostNetns ?? '';
  return {
    runners: new PluginRunners([['cni', new CniRunner(cniOptionsFromEnv(process.env))]], {
      plugins: new DockerPlugins(dockerOptionsFromEnv(process.env)),
      networks: new DockerNetworkStore(g.stateDir, host),
    }),
    store: new RecordStore(g.stateDir, host),
  };
}

/** `kernel`: one the caller keeps for its whole run (weft dns reloads often: one worker thread, not one per reload). */
export async function makeContext(g: GlobalOptions, model: Model | undefined, log: Logger, peers?: PeerSource, kernel: Kernel = makeKernel(log)): Promise<ReconcileContext> {
  return {
    kernel,
    log,
    hostNetns: g.hostNetns ?? '',
    ...(g.node !== undefined ? { node: g.node } : {}),
    drivers: modelDrivers(model),
    providers,
    plugins: makePlugins(g),
    ...(peers ? { peers } : {}),
  };
}
