import type { PluginAttachment, PluginEndpoint } from '../compile/index.js';
import type { SourcePos } from '../errors.js';
import type { Kernel } from '../kernel/index.js';
import type { Logger } from '../log.js';

/**
 * The plugin phase's vocabulary. A plugin is an external actor that makes kernel state (a CNI
 * executable, a Docker remote driver): weft records what it asked for (PluginRecord), observes the
 * result through the kernel, plans, and calls the plugin through a PluginRunner, one per kind.
 */

/** What a plugin made for one endpoint, in CNI's result shape (Docker's Join answer maps onto it). */
export interface PluginResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  /** address is CIDR text; interface indexes `interfaces`. */
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/**
 * One endpoint a plugin made, as weft recorded it in the state dir when the plugin answered:
 * enough to undo it after a restart with the manifests gone (the CNI DEL needs the same
 * configuration and the cached result as prevResult).
 */
export interface PluginRecord extends PluginEndpoint {
  /** The fully resolved request the plugin was given (for CNI: the configuration list, runtimeConfig). */
  request: unknown;
  /** Hash of `request`: a changed declaration is a change to make (DEL with the old, ADD with the new). */
  requestHash: string;
  result: PluginResult;
  /**
   * Set when the plugin's CHECK failed right after a repair (a plugin whose CHECK is wrong, e.g.
   * containernetworking/plugins#819): reported as a warning, never repaired again for that failure.
   */
  checkWarning?: string;
  createdAt: string;
}

/** One change the plugin phase plans. */
export interface PluginChange {
  action: 'add' | 'delete' | 'repair';
  kind: string;
  network: string;
  container: string;
  /** Why (for a repair: what differs, or the failed CHECK). */
  reason?: string;
  /** Present for add and repair. */
  attachment?: PluginAttachment;
  /** Present for delete and repair. */
  record?: PluginRecord;
}

/** A plugin's trouble with one network: the rest converges; apply exits 1 naming the network. */
export interface PluginFailure {
  kind: string;
  network: string;
  container?: string;
  /** The network's manifest position, when it is still declared. */
  pos?: SourcePos;
  message: string;
}

/** A CHECK that still fails after a repair: shown, counted, not repaired again. */
export interface PluginWarning {
  network: string;
  container: string;
  message: string;
}

/** What a runner may use: the kernel for the cleanup it needs (a bridge left behind), the log. */
export interface RunnerContext {
  kernel: Kernel;
  log: Logger;
  /** "" for the machine's own namespace, else the --host-netns name: plugins run inside it. */
  hostNetns: string;
}

/**
 * The caller of one plugin kind. Lives beside src/kernel (it execs binaries or speaks HTTP);
 * never called from compile. Every method throws PluginError with a one-line reason.
 */
export interface PluginRunner {
  readonly kind: string;
  /**
   * The request to send for an attachment (configuration resolved, capabilities filled in):
   * recorded, and hashed to tell a changed declaration. Throws PluginError for a bad configuration.
   */
  request(att: PluginAttachment): Promise<unknown>;
  /** Makes the endpoint; returns the plugin's result. On failure it undoes what it made. */
  add(att: PluginAttachment, request: unknown, ctx: RunnerContext): Promise<PluginResult>;
  /** Removes the endpoint (tolerates what is already gone). */
  delete(rec: PluginRecord, ctx: RunnerContext): Promise<void>;
  /** The plugin's own check of a made endpoint: a failure message, or undefined. Read-only. */
  check?(rec: PluginRecord, ctx: RunnerContext): Promise<string | undefined>;
  /**
   * After a network is left without endpoints (its last one deleted, or a first ADD undone):
   * removes what the plugin made for the network itself and leaves behind (the CNI bridge
   * plugin's bridge), when nothing else uses it. `requests` are those its endpoints were made with.
   */
  networkGone?(network: string, requests: unknown[], ctx: RunnerContext): Promise<void>;
}

/** A plugin call failed: missing binary, error answer, garbage, timeout. */
export class PluginError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PluginError';
  }
}
