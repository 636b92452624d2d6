import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { PluginAttachment, PluginPortMapping } from '../../compile/index.js';
import { checkCniConfig, isObject, MAX_CONFIG_BYTES } from '../../model/cni-config.js';
import { PluginError } from '../types.js';

/** A CNI configuration list as weft runs it: checked, its name the network's. */
export interface CniConfList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: CniPluginConf[];
}

export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/** What weft records and hashes per endpoint: the configuration and the runtime values it filled in. */
export interface CniRequest {
  config: CniConfList;
  /** Only when a plugin asks for the portMappings capability. */
  portMappings?: PluginPortMapping[];
}

/**
 * The request for an attachment: the inline configuration, or the named file of the configuration
 * folder (checked the same way: a file is no more trusted than a manifest). Throws PluginError.
 */
export async function cniRequest(att: PluginAttachment, confDir: string): Promise<CniRequest> {
  if (att.spec.kind !== 'cni') throw new PluginError(`network "${att.network}" is not a cni network`);
  const spec = att.spec.cni;
  const raw = spec.config !== undefined ? { name: att.network, ...spec.config } : await readConflist(confDir, spec.conflist ?? '', att.network);
  const problems = checkCniConfig(raw, att.network);
  if (problems.length > 0) {
    const p = problems[0]!;
    throw new PluginError(`${spec.conflist !== undefined ? `${spec.conflist}: ` : ''}${p.path.length ? `at ${p.path.join('.')}: ` : ''}${p.message}; ${p.hint}`);
  }
  const config = raw as unknown as CniConfList;
  const wantsPorts = config.plugins.some((p) => p.capabilities?.['portMappings'] === true);
  return { config, ...(wantsPorts && att.portMappings.length > 0 ? { portMappings: att.portMappings } : {}) };
}

/**
 * Reads `<confDir>/<name>` (or name.conflist / .conf / .json): the name passed the manifest's
 * format (no "/"), and the file must be a regular file (no symlink out of the folder). A .conf
 * file (one plugin) becomes a list of one, as libcni does.
 */
async function readConflist(confDir: string, name: string, network: string): Promise<unknown> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) throw new PluginError(`conflist ${JSON.stringify(name)} is not a file name`);
  const candidates = path.extname(name) ? [name] : [`${name}.conflist`, `${name}.conf`, `${name}.json`, name];
  for (const c of candidates) {
    const file = path.join(confDir, c);
    const st = await lstat(file).catch(() => undefined);
    if (!st) continue;
    if (!st.isFile()) throw new PluginError(`${file} is not a regular file`);
    if (st.size > MAX_CONFIG_BYTES) throw new PluginError(`${file} is larger than ${MAX_CONFIG_BYTES} bytes`);
    let v: unknown;
    try {
      v = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new PluginError(`${file} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (isObject(v) && v['plugins'] === undefined && typeof v['type'] === 'string') {
      const { cniVersion, name: n, ...plugin } = v;
      return { cniVersion, name: n ?? network, plugins: [plugin] };
    }
    return v;
  }
  throw new PluginError(`no CNI configuration "${name}" in ${confDir}`);
}

/** CHECK exists from CNI 0.4.0 on. */
export function supportsCheck(version: string): boolean {
  return compareVersions(version, '0.4.0') >= 0;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
