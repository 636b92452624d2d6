/**
 * The checks a CNI network configuration list must pass before weft hands it to plugins, whether
 * it came inline from a manifest or from a .conflist file. Pure: returns the problems with the
 * path (JSON pointer segments) of the offending value, for a manifest position or a file message.
 */

export interface CniConfigProblem {
  path: (string | number)[];
  code: string;
  message: string;
  hint: string;
}

/** CNI spec versions weft speaks (it passes cniVersion through; results are parsed in all of them). */
export const CNI_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** Capabilities weft fills in from the manifests (runtimeConfig). */
export const CNI_CAPABILITIES = ['portMappings'] as const;

const TOP_KEYS = new Set(['cniVersion', 'cniVersions', 'name', 'plugins', 'disableCheck', 'disableGC']);
// The runtime writes these into each plugin's stdin; a user value would be overwritten or, worse, trusted.
const RESERVED_PLUGIN_KEYS = new Set(['name', 'cniVersion', 'runtimeConfig', 'prevResult']);
/** A plugin binary name: one file name in the plugin folders, never a path. */
export const CNI_TYPE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const PRINTABLE = /^[^\p{Cc}\p{Zl}\p{Zp}]{0,1024}$/u;
const MAX_PLUGINS = 16;
const MAX_DEPTH = 16;
/** Bytes of JSON: plugin stdin stays small, so a manifest cannot make weft buffer megabytes per call. */
export const MAX_CONFIG_BYTES = 64 * 1024;

/** Problems of one configuration list for network `network`; [] when it may be run. */
export function checkCniConfig(config: unknown, network: string): CniConfigProblem[] {
  const out: CniConfigProblem[] = [];
  if (!isObject(config)) {
    return [{ path: [], code: 'CNI_CONFIG', message: `network "${network}": the CNI configuration is not an object`, hint: 'write {cniVersion, name, plugins: [...]}' }];
  }
  checkValues(config, [], 0, network, out);
  if (out.length > 0) return out;
  if (JSON.stringify(config).length > MAX_CONFIG_BYTES) {
    return [{ path: [], code: 'CNI_CONFIG', message: `network "${network}": the CNI configuration is larger than ${MAX_CONFIG_BYTES} bytes`, hint: 'keep the configuration list small' }];
  }
  for (const key of Object.keys(config)) {
    if (!TOP_KEYS.has(key)) {
      out.push({ path: [key], code: 'CNI_UNKNOWN_KEY', message: `network "${network}": "${key}" is not a key of a CNI configuration list`, hint: `use ${[...TOP_KEYS].join(', ')}; plugin settings go in plugins[]` });
    }
  }
  const version = config['cniVersion'];
  if (typeof version !== 'string' || !CNI_VERSIONS.some((v) => v === version)) {
    out.push({ path: ['cniVersion'], code: 'CNI_VERSION', message: `network "${network}": cniVersion ${JSON.stringify(version ?? null)} is not a CNI version weft speaks`, hint: `use one of ${CNI_VERSIONS.join(', ')}` });
  }
  const name = config['name'];
  if (name !== undefined && name !== network) {
    out.push({ path: ['name'], code: 'CNI_NAME_MISMATCH', message: `network "${network}": the CNI configuration is named ${JSON.stringify(name)}`, hint: `name it "${network}" (the network's name) or leave name out` });
  }
  for (const key of ['disableCheck', 'disableGC']) {
    if (config[key] !== undefined && typeof config[key] !== 'boolean') {
      out.push({ path: [key], code: 'CNI_CONFIG', message: `network "${network}": ${key} is not true or false`, hint: `write ${key}: true` });
    }
  }
  const plugins = config['plugins'];
  if (!Array.isArray(plugins) || plugins.length === 0 || plugins.length > MAX_PLUGINS) {
    out.push({ path: ['plugins'], code: 'CNI_PLUGINS', message: `network "${network}": plugins is not a list of 1 to ${MAX_PLUGINS} plugin configurations`, hint: 'list the plugins to chain, e.g. [{type: bridge, ...}, {type: portmap, ...}]' });
    return out;
  }
  plugins.forEach((p: unknown, i) => checkPlugin(p, i, network, out));
  return out;
}

function checkPlugin(p: unknown, i: number, network: string, out: CniConfigProblem[]): void {
  const at = (...rest: (string | number)[]) => ['plugins', i, ...rest];
  if (!isObject(p)) {
    out.push({ path: at(), code: 'CNI_PLUGINS', message: `network "${network}": plugins[${i}] is not an object`, hint: 'write {type: NAME, ...settings}' });
    return;
  }
  const type = p['type'];
  if (typeof type !== 'string' || !CNI_TYPE.test(type)) {
    out.push({ path: at('type'), code: 'CNI_PLUGIN_TYPE', message: `network "${network}": plugins[${i}].type ${JSON.stringify(type ?? null)} is not a plugin name`, hint: 'name a plugin binary of /usr/lib/cni or /opt/cni/bin (lower-case letters, digits, ".", "_", "-"; no "/")' });
  }
  for (const key of Object.keys(p)) {
    if (RESERVED_PLUGIN_KEYS.has(key)) {
      out.push({ path: at(key), code: 'CNI_RESERVED_KEY', message: `network "${network}": plugins[${i}].${key} is set by weft when it runs the plugin`, hint: `remove ${key}` });
    }
  }
  const ipamType = isObject(p['ipam']) ? p['ipam']['type'] : undefined;
  if (ipamType !== undefined && (typeof ipamType !== 'string' || !CNI_TYPE.test(ipamType))) {
    out.push({ path: at('ipam', 'type'), code: 'CNI_PLUGIN_TYPE', message: `network "${network}": plugins[${i}].ipam.type ${JSON.stringify(ipamType)} is not a plugin name`, hint: 'name an IPAM plugin binary such as host-local or static (no "/")' });
  }
  const caps = p['capabilities'];
  if (caps !== undefined) {
    if (!isObject(caps)) {
      out.push({ path: at('capabilities'), code: 'CNI_CAPABILITY', message: `network "${network}": plugins[${i}].capabilities is not a map`, hint: 'write capabilities: {portMappings: true}' });
    } else {
      for (const [k, v] of Object.entries(caps)) {
        if (typeof v !== 'boolean' || (v && !CNI_CAPABILITIES.some((c) => c === k))) {
          out.push({ path: at('capabilities', k), code: 'CNI_CAPABILITY', message: `network "${network}": capability "${k}" is not one weft supplies`, hint: `weft supplies ${CNI_CAPABILITIES.join(', ')} (from the container's ports)` });
        }
      }
    }
  }
}

/** Only JSON values (YAML may give dates or huge nesting), strings printable and short. */
function checkValues(v: unknown, path: (string | number)[], depth: number, network: string, out: CniConfigProblem[]): void {
  if (out.length > 0) return;
  if (depth > MAX_DEPTH) {
    out.push({ path, code: 'CNI_CONFIG', message: `network "${network}": the CNI configuration is nested deeper than ${MAX_DEPTH} levels`, hint: 'flatten it' });
  } else if (typeof v === 'string') {
    if (!PRINTABLE.test(v)) out.push({ path, code: 'CNI_BAD_TEXT', message: `network "${network}": a CNI setting has control characters or is longer than 1024 characters`, hint: 'write the value as printable text on one line' });
  } else if (typeof v === 'number') {
    if (!Number.isFinite(v)) out.push({ path, code: 'CNI_BAD_VALUE', message: `network "${network}": a CNI setting is not a finite number`, hint: 'write a plain number' });
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => checkValues(x, [...path, i], depth + 1, network, out));
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (!PRINTABLE.test(k)) {
        out.push({ path, code: 'CNI_BAD_TEXT', message: `network "${network}": a CNI key has control characters`, hint: 'write keys as printable text' });
        return;
      }
      checkValues(x, [...path, k], depth + 1, network, out);
    }
  } else if (typeof v !== 'boolean' && v !== null) {
    out.push({ path, code: 'CNI_BAD_VALUE', message: `network "${network}": a CNI setting is not a JSON value (a date or other YAML type)`, hint: 'quote it as a string' });
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}
