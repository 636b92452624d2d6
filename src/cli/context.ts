import { pathToFileURL } from 'node:url';
import path from 'node:path';
import type { NetworkDriver } from '../compile/index.js';
import { builtinDrivers } from '../compile/index.js';
import { UsageError } from '../errors.js';
import { RealKernel } from '../kernel/index.js';
import type { Kernel } from '../kernel/index.js';
import type { LogFormat, Logger } from '../log.js';
import { createLogger } from '../log.js';
import type { Model } from '../model/index.js';
import { providers } from '../providers/index.js';
import type { PeerSource, ReconcileContext } from '../reconcile/index.js';

export interface GlobalOptions {
  hostNetns?: string;
  node?: string;
  /** --store etcd://HOST:PORT[?ttl=N] or zk://HOST:PORT[?ttl=N] */
  store?: string;
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
 * Plugin drivers: a module exporting `driver` (a NetworkDriver), found as the npm package
 * weft-driver-<name> or as <dir>/<name>.js in $WEFT_PLUGIN_PATH (default /usr/lib/weft/drivers).
 */
export async function loadDrivers(model: Model | undefined, log: Logger): Promise<Map<string, NetworkDriver>> {
  const drivers = new Map(builtinDrivers);
  const wanted = new Set([...(model?.networks.values() ?? [])].map((n) => n.driver).filter((d) => !drivers.has(d)));
  const dirs = (process.env['WEFT_PLUGIN_PATH'] ?? '/usr/lib/weft/drivers').split(':').filter(Boolean);
  for (const name of wanted) {
    const candidates = [`weft-driver-${name}`, ...dirs.map((d) => pathToFileURL(path.join(d, `${name}.js`)).href)];
    for (const spec of candidates) {
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

export function makeKernel(log: Logger): Kernel {
  return new RealKernel({ log });
}

/** A progress line on stderr for applies that write many namespaces (a terminal redraws it in place). */
export function progressLine(): (done: number, total: number) => void {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return (done, total) => {
    if (total < 50) return;
    if (tty) {
      process.stderr.write(`\rweft: writing namespaces ${done}/${total}${done === total ? '\n' : ''}`);
    } else if (done === total || done - last >= Math.ceil(total / 10)) {
      last = done;
      process.stderr.write(`weft: writing namespaces ${done}/${total}\n`);
    }
  };
}

export async function makeContext(g: GlobalOptions, model: Model | undefined, log: Logger, peers?: PeerSource): Promise<ReconcileContext> {
  return {
    kernel: makeKernel(log),
    log,
    progress: progressLine(),
    hostNetns: g.hostNetns ?? '',
    ...(g.node !== undefined ? { node: g.node } : {}),
    drivers: await loadDrivers(model, log),
    providers,
    ...(peers ? { peers } : {}),
  };
}
