import { UsageError } from '../../errors.js';
import { DEFAULT_TRANSPORT } from './transport.js';
import type { DockerPluginOptions } from './client.js';
import { pluginDirs } from './discovery.js';

/**
 * Docker plugin options from the environment (read by the CLI only): WEFT_DOCKER_PLUGIN_DIRS,
 * absolute folders (":"-separated) searched for NAME.sock, NAME.spec and NAME.json before Docker's
 * own; WEFT_DOCKER_PLUGIN_TIMEOUT, milliseconds per call (default 30000, as Docker).
 */
export function dockerOptionsFromEnv(env: NodeJS.ProcessEnv): DockerPluginOptions {
  const dirs = (env['WEFT_DOCKER_PLUGIN_DIRS'] ?? '').split(':').filter(Boolean);
  const relative = dirs.find((d) => !d.startsWith('/'));
  if (relative !== undefined) throw new UsageError(`WEFT_DOCKER_PLUGIN_DIRS: ${JSON.stringify(relative)} is not an absolute path; give absolute folders separated by ":"`);
  const text = env['WEFT_DOCKER_PLUGIN_TIMEOUT'];
  const timeoutMs = text === undefined || text === '' ? DEFAULT_TRANSPORT.timeoutMs : Number(text);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) throw new UsageError(`WEFT_DOCKER_PLUGIN_TIMEOUT: ${JSON.stringify(text)} is not a number of milliseconds from 1 to 600000`);
  return { dirs: pluginDirs(dirs), timeoutMs };
}
