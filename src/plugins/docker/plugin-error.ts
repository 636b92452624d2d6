import { WeftError } from '../../errors.js';

/**
 * A Docker plugin could not be found, did not answer, answered garbage or said it failed.
 * `reachable` is false when the plugin was not there or did not answer (connection refused,
 * socket missing, timeout): the client then activates it again on its next call, as Docker does
 * for a plugin that restarted.
 */
export class DockerPluginError extends WeftError {
  readonly plugin: string;
  readonly call: string;
  readonly reachable: boolean;
  constructor(plugin: string, call: string, what: string, opts: { reachable?: boolean; cause?: unknown } = {}) {
    super('PLUGIN', `plugin "${plugin}": ${call}: ${what}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DockerPluginError';
    this.plugin = plugin;
    this.call = call;
    this.reachable = opts.reachable ?? true;
  }
}

/** Text a plugin sent, made safe to print: no control characters, at most `max` characters. */
export function pluginText(s: string, max = 300): string {
  const clean = s.replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}
