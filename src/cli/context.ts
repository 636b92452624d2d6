import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import type { NetworkDriver } from '../compile/index.js';
import { builtinDrivers } from '../compile/index.js';
import { UsageError } from '../errors.js';
import { matchesFormat } from '../manifest/formats.js';
import { InProcessKernel, RealKernel } from '../kernel/index.js';
import type { Kernel } from '../kernel/index.js';
import type { LogFormat, Logger } from '../log.js';
import { createLogger } from '../log.js';
import type { Model } from '../model/index.js';
import { providers } from '../providers/index.js';
import { RecordStore } from '../plugins/index.js';
import { CniRunner, cniOptionsFromEnv } from '../plugins/cni/index.js';
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

/** Where plugin driver modules live: $WEFT_PLUGIN_PATH, default /usr/lib/weft/drivers. */
function pluginDirs(): string[] {
  return (process.env['WEFT_PLUGIN_PATH'] ?? '/usr/lib/weft/drivers').split(':').filter(Boolean);
}

/**
 * The modules that may hold plugin driver `name`: the npm package weft-driver-<name>, then
 * <dir>/<name>.js in each plugin folder. Only for a name of the driver format (one lower-case
 * token: no '/', no '..'), so no manifest text ever becomes another path; [] for any other.
 */
export function pluginModules(name: string): string[] {
  if (!matchesFormat('driver', name) || name.includes('..')) return [];
  return [`weft-driver-${name}`, ...pluginDirs().map((d) => pathToFileURL(path.join(d, `${name}.js`)).href)];
}

/** The drivers the model names that are not built in. */
function pluginNames(model: Model | undefined): Set<string> {
  return new Set([...(model?.networks.values() ?? [])].map((n) => n.driver).filter((d) => !builtinDrivers.has(d)));
}

/**
 * Plugin drivers: a module exporting `driver` (a NetworkDriver), found as the npm package
 * weft-driver-<name> or as <dir>/<name>.js in $WEFT_PLUGIN_PATH (default /usr/lib/weft/drivers).
 * Imports (runs) the plugin modules: for the commands that plan or write, never for `validate`.
 */
export async function loadDrivers(model: Model | undefined, log: Logger): Promise<Map<string, NetworkDriver>> {
  const drivers = new Map(builtinDrivers);
  for (const name of pluginNames(model)) {
    for (const spec of pluginModules(name)) {
      try {
        const mod = (await import(spec)) as { driver?: NetworkDriver; default?: NetworkDriver };
        const driver = mod.driver ?? mod.default;
        if (driver?.name === name) {
          drivers.set(name, driver);
          log.info({ driver: name, module: spec }, 'plugin driver loaded');
          break;
        }
      } catch {
        /* not there: try the next place; compile reports an unknown driver with a hint */
      }
    }
  }
  return drivers;
}

/**
 * For `validate`: the built-in drivers, and a stand-in for each plugin driver whose module exists
 * (found, never loaded: validate runs no driver code, so it is safe on untrusted pull requests).
 * The stand-in plans like a bridge without kernel objects, so IPAM and references are checked;
 * what only the plugin knows is checked when `plan` or `apply` loads it.
 */
export function findDrivers(model: Model | undefined): Map<string, NetworkDriver> {
  const drivers = new Map(builtinDrivers);
  const bridge = builtinDrivers.get('bridge');
  for (const name of pluginNames(model)) {
    if (pluginModules(name).some(moduleExists)) {
      drivers.set(name, { name, scope: 'local', hasEndpoints: true, defaultMtu: 1500, ...(bridge?.defaultPools ? { defaultPools: bridge.defaultPools } : {}) });
    }
  }
  return drivers;
}

/** Set to "processes" to reach the kernel through ip/nft/sh processes instead (for comparison). */
export const KERNEL_ENV = 'WEFT_KERNEL';

/** The kernel: in-process (rtnetlink, libnftables) unless WEFT_KERNEL=processes asks for the old one. */
export function makeKernel(log: Logger): Kernel {
  return process.env[KERNEL_ENV] === 'processes' ? new RealKernel({ log }) : new InProcessKernel({ log });
}

/** Whether a module specifier resolves to something, without loading it. */
function moduleExists(spec: string): boolean {
  try {
    const url = spec.startsWith('file:') ? spec : import.meta.resolve(spec);
    return !url.startsWith('file:') || existsSync(fileURLToPath(url));
  } catch {
    return false;
  }
}

/** The plugin callers (one per plugin kind) and this host's record store under --state-dir. */
export function makePlugins(g: GlobalOptions): PluginSupport {
  return {
    runners: new Map([['cni', new CniRunner(cniOptionsFromEnv(process.env))]]),
    store: new RecordStore(g.stateDir, g.hostNetns ?? ''),
  };
}

export async function makeContext(g: GlobalOptions, model: Model | undefined, log: Logger, peers?: PeerSource): Promise<ReconcileContext> {
  return {
    kernel: makeKernel(log),
    log,
    hostNetns: g.hostNetns ?? '',
    ...(g.node !== undefined ? { node: g.node } : {}),
    drivers: await loadDrivers(model, log),
    providers,
    plugins: makePlugins(g),
    ...(peers ? { peers } : {}),
  };
}
