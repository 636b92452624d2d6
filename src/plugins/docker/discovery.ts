import { open } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { DockerPluginError } from './plugin-error.js';

/** Where a plugin listens: a unix socket path, or a TCP address from a .spec/.json file. */
export type PluginAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** The folders searched, as Docker searches them: sockets first, then spec files. */
export interface PluginDirs {
  sockets: readonly string[];
  specs: readonly string[];
}

/** Docker's own folders for legacy (non-managed) plugins. */
export const DOCKER_PLUGIN_DIRS: PluginDirs = {
  sockets: ['/run/docker/plugins'],
  specs: ['/etc/docker/plugins', '/usr/lib/docker/plugins'],
};

/** Extra folders (from $WEFT_DOCKER_PLUGIN_DIRS or a flag) searched before Docker's, for sockets and spec files alike. */
export function pluginDirs(extra: readonly string[]): PluginDirs {
  return { sockets: [...extra, ...DOCKER_PLUGIN_DIRS.sockets], specs: [...extra, ...DOCKER_PLUGIN_DIRS.specs] };
}

/** A plugin name as a driver name may spell it: never a path, never "." or "..". */
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function isPluginName(name: string): boolean {
  return NAME.test(name) && !name.includes('..');
}

/** Spec files are a line of text or a small JSON object: more than this is not a spec file. */
const MAX_SPEC_BYTES = 64 * 1024;

/**
 * Finds plugin `name` the way Docker does: NAME.sock or NAME/NAME.sock in a socket folder, then
 * NAME.spec, NAME.json (and NAME/NAME.spec, NAME/NAME.json) in a spec folder. Throws DockerPluginError
 * (reachable: false) when it is nowhere or its spec file is unusable. Reads the file system only.
 */
export async function findPlugin(name: string, dirs: PluginDirs): Promise<PluginAddress> {
  if (!isPluginName(name)) throw new DockerPluginError(name, 'find', 'not a plugin name (lower-case letters, digits, ".", "_", "-")', { reachable: false });
  for (const dir of dirs.sockets) {
    for (const file of [`${name}.sock`, path.join(name, `${name}.sock`)]) {
      const p = path.join(dir, file);
      if (await isSocket(p)) return { kind: 'unix', path: p };
    }
  }
  for (const dir of dirs.specs) {
    for (const file of [`${name}.spec`, `${name}.json`, path.join(name, `${name}.spec`), path.join(name, `${name}.json`)]) {
      const p = path.join(dir, file);
      const text = await readSmallFile(p, name);
      if (text !== undefined) return parseSpec(name, p, text);
    }
  }
  const where = [...dirs.sockets.map((d) => path.join(d, `${name}.sock`)), ...dirs.specs.map((d) => path.join(d, `${name}.spec`))];
  throw new DockerPluginError(name, 'find', `not found (looked for ${where.join(', ')} and .json files); start the plugin or add its folder to WEFT_DOCKER_PLUGIN_DIRS`, { reachable: false });
}

async function isSocket(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isSocket();
  } catch {
    return false;
  }
}

/** The file's text, undefined when there is no such regular file; throws when it is too big. */
async function readSmallFile(p: string, name: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(p, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    if (st.size > MAX_SPEC_BYTES) throw new DockerPluginError(name, 'find', `${p}: spec file of ${st.size} bytes (at most ${MAX_SPEC_BYTES}); fix the file`, { reachable: false });
    const buf = Buffer.alloc(MAX_SPEC_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * A .spec file holds one URL (unix:///path or tcp://host:port); a .json file an object with
 * `Addr` (and `TLSConfig`, which weft does not support: such a plugin is refused by name).
 */
export function parseSpec(name: string, file: string, text: string): PluginAddress {
  const bad = (what: string): DockerPluginError => new DockerPluginError(name, 'find', `${file}: ${what}; write unix:///PATH or tcp://HOST:PORT`, { reachable: false });
  let url = text.trim();
  if (file.endsWith('.json')) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw bad('not JSON');
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object');
    const rec = doc as Record<string, unknown>;
    if (typeof rec['Addr'] !== 'string') throw bad('no "Addr" string');
    if (rec['TLSConfig'] !== undefined && rec['TLSConfig'] !== null) throw bad('TLS plugins are not supported');
    url = rec['Addr'].trim();
  }
  const unix = /^unix:\/\/(\/[^\0]*)$/.exec(url);
  if (unix) return { kind: 'unix', path: unix[1]! };
  const tcp = /^(?:tcp|http):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(url);
  if (tcp && Number(tcp[2]) > 0 && Number(tcp[2]) < 65536) return { kind: 'tcp', host: tcp[1]!.replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  throw bad(`address ${JSON.stringify(url.slice(0, 100))} is not unix:// or tcp://`);
}
