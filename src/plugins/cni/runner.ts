import { access, constants, stat } from 'node:fs/promises';
import path from 'node:path';
import type { PluginAttachment } from '../../compile/index.js';
import { parseAlias } from '../../naming.js';
import { emptyProgram } from '../../kernel/index.js';
import { HOST } from '../../state/types.js';
import type { PluginRecord, PluginResult, PluginRunner, RunnerContext } from '../types.js';
import { PluginError } from '../types.js';
import type { CniConfList, CniPluginConf, CniRequest } from './config.js';
import { cniRequest, supportsCheck } from './config.js';
import { runCni } from './exec.js';
import type { CniCall } from './exec.js';
import { checkResult } from './result.js';

export interface CniOptions {
  /** Folders of plugin binaries, searched in order (CNI_PATH). */
  pluginDirs: string[];
  /** Folder of named configuration lists (spec.cni.conflist). */
  confDir: string;
  /** How long one plugin call may take. */
  timeoutMs: number;
}

export const DEFAULT_CNI_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
export const DEFAULT_CNI_TIMEOUT_MS = 30_000;

/**
 * CNI options from the environment: WEFT_CNI_PATH (folders, ":"-separated), WEFT_CNI_CONF_DIR,
 * WEFT_CNI_TIMEOUT (milliseconds). Read by the CLI only.
 */
export function cniOptionsFromEnv(env: NodeJS.ProcessEnv): CniOptions {
  const timeout = Number(env['WEFT_CNI_TIMEOUT'] ?? DEFAULT_CNI_TIMEOUT_MS);
  return {
    pluginDirs: env['WEFT_CNI_PATH'] ? env['WEFT_CNI_PATH'].split(':').filter((d) => d.startsWith('/')) : DEFAULT_CNI_DIRS,
    confDir: env['WEFT_CNI_CONF_DIR'] ?? DEFAULT_CNI_CONF_DIR,
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_CNI_TIMEOUT_MS,
  };
}

/**
 * Runs CNI plugin chains as libcni does: ADD in order with each result the next one's prevResult,
 * DEL in reverse with the cached result, CHECK with the cached result (from CNI 0.4.0, unless the
 * list disables it). The cached result lives in weft's record (src/plugins/records.ts).
 */
export class CniRunner implements PluginRunner {
  readonly kind = 'cni';
  constructor(private readonly opts: CniOptions) {}

  request(att: PluginAttachment): Promise<CniRequest> {
    return cniRequest(att, this.opts.confDir);
  }

  async add(att: PluginAttachment, request: unknown, ctx: RunnerContext): Promise<PluginResult> {
    const req = request as CniRequest;
    const target = { containerId: att.containerId, netns: att.netnsPath, ifname: att.ifname };
    let prev: PluginResult | undefined;
    try {
      for (const plugin of req.config.plugins) {
        const out = await this.call(plugin, 'ADD', req, target, prev, ctx);
        prev = checkResult(out, `${plugin.type} ADD`);
      }
    } catch (err) {
      // Nothing half-made: undo the whole chain (DEL tolerates what was never made).
      await this.delChain(req, target, prev, ctx).catch((e: unknown) => ctx.log.warn({ network: att.network, container: att.container, err: String(e) }, 'CNI DEL after a failed ADD failed too'));
      throw err;
    }
    if (!prev) throw new PluginError(`network "${att.network}": the CNI configuration lists no plugin`);
    return prev;
  }

  async delete(rec: PluginRecord, ctx: RunnerContext): Promise<void> {
    const req = rec.request as CniRequest;
    await this.delChain(req, { containerId: rec.containerId, netns: rec.netnsPath, ifname: rec.ifname }, rec.result, ctx);
  }

  async check(rec: PluginRecord, ctx: RunnerContext): Promise<string | undefined> {
    const req = rec.request as CniRequest;
    if (!supportsCheck(req.config.cniVersion) || req.config.disableCheck === true) return undefined;
    const target = { containerId: rec.containerId, netns: rec.netnsPath, ifname: rec.ifname };
    for (const plugin of req.config.plugins) {
      try {
        await this.call(plugin, 'CHECK', req, target, rec.result, ctx);
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    }
    return undefined;
  }

  /**
   * The CNI bridge plugin's DEL leaves its bridge: remove it with the network's last endpoint, when
   * no port is left on it and it is not weft's own (tagged) bridge.
   */
  async networkGone(network: string, requests: unknown[], ctx: RunnerContext): Promise<void> {
    const names = new Set(requests.flatMap((r) => (r as CniRequest).config.plugins.filter((p) => p.type === 'bridge').map((p) => (typeof p['bridge'] === 'string' ? p['bridge'] : 'cni0'))));
    if (names.size === 0) return;
    const host = { key: HOST, path: ctx.hostNetns ? `/run/netns/${ctx.hostNetns}` : null };
    const snap = (await ctx.kernel.readNamespaces([{ ns: host, sysctls: [] }])).get(HOST);
    if (!snap) return;
    const program = emptyProgram(host);
    for (const name of names) {
      const link = snap.links.find((l) => l.name === name);
      if (!link || link.kind !== 'bridge' || parseAlias(link.alias) !== undefined) continue;
      if (snap.links.some((l) => l.master === name)) continue;
      program.host.ip.push({ op: 'link-del', name, what: `bridge ${name} the CNI bridge plugin made for network ${network}` });
    }
    if (program.host.ip.length > 0) await ctx.kernel.run(program);
  }

  private async delChain(req: CniRequest, target: Target, cached: PluginResult | undefined, ctx: RunnerContext): Promise<void> {
    let first: unknown;
    for (const plugin of [...req.config.plugins].reverse()) {
      try {
        await this.call(plugin, 'DEL', req, target, cached, ctx);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  private async call(plugin: CniPluginConf, command: CniCall['command'], req: CniRequest, target: Target, prev: PluginResult | undefined, ctx: RunnerContext): Promise<unknown> {
    return runCni({
      binary: await this.binary(plugin.type),
      command,
      ...target,
      path: this.opts.pluginDirs.join(':'),
      stdin: pluginStdin(plugin, req, prev),
      hostNetns: ctx.hostNetns,
      timeoutMs: this.opts.timeoutMs,
    });
  }

  /** The plugin's binary: the first executable regular file of that name in the plugin folders. */
  private async binary(type: string): Promise<string> {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(type)) throw new PluginError(`plugin type ${JSON.stringify(type)} is not a plugin name`);
    for (const dir of this.opts.pluginDirs) {
      const file = path.join(dir, type);
      const st = await stat(file).catch(() => undefined);
      if (st?.isFile() && (await access(file, constants.X_OK).then(() => true, () => false))) return file;
    }
    throw new PluginError(`CNI plugin "${type}" not found in ${this.opts.pluginDirs.join(', ')}`);
  }
}

interface Target {
  containerId: string;
  netns: string;
  ifname: string;
}

/**
 * One plugin's stdin, as libcni builds it: the plugin's configuration with the list's name and
 * version, the previous result, and runtimeConfig for the capabilities the plugin declares.
 */
export function pluginStdin(plugin: CniPluginConf, req: CniRequest, prev: PluginResult | undefined): Record<string, unknown> {
  const conf: CniConfList = req.config;
  const runtimeConfig: Record<string, unknown> = {};
  if (plugin.capabilities?.['portMappings'] === true && req.portMappings) runtimeConfig['portMappings'] = req.portMappings;
  return {
    ...plugin,
    name: conf.name,
    cniVersion: conf.cniVersion,
    ...(prev !== undefined ? { prevResult: prev } : {}),
    ...(Object.keys(runtimeConfig).length > 0 ? { runtimeConfig } : {}),
  };
}
