import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { PluginRecord } from './types.js';

/**
 * The record store: what weft asked plugins to make, one JSON file per endpoint under
 * `<stateDir>/plugins/<host>/`, written atomically (a new file renamed over the old one), so a
 * weft killed mid-write leaves the old record whole. A plugin cannot be listed: these records are
 * how destroy and prune find what to delete, and the cached result a CNI DEL needs after a restart.
 */
export class RecordStore {
  readonly dir: string;
  constructor(stateDir: string, hostNetns: string) {
    this.dir = path.join(stateDir, 'plugins', hostNetns || 'root');
  }

  /** Every record, sorted by network then container. Unreadable or foreign files are skipped. */
  async list(): Promise<PluginRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: PluginRecord[] = [];
    for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
      const rec = parseRecord(await readFile(path.join(this.dir, n), 'utf8').catch(() => ''));
      if (rec && recordFile(rec) === n) out.push(rec);
    }
    return out.sort((a, b) => a.network.localeCompare(b.network) || a.container.localeCompare(b.container));
  }

  /** Writes a record atomically (tmp file, fsync-free rename: the rename is the commit point). */
  async write(rec: PluginRecord): Promise<void> {
    await writeJsonAtomic(this.dir, recordFile(rec), rec);
  }

  async remove(rec: Pick<PluginRecord, 'network' | 'container'>): Promise<void> {
    await removeFile(path.join(this.dir, recordFile(rec)));
  }
}

/** Writes `value` as JSON to dir/name atomically (writeFileAtomic; file 0600, folder 0700). */
export async function writeJsonAtomic(dir: string, name: string, value: unknown): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path.join(dir, name), `${JSON.stringify(value, null, 2)}\n`, 0o600);
}

/** Removes a regular file if it is there (never follows a link to something else). */
export async function removeFile(file: string): Promise<void> {
  const st = await lstat(file).catch(() => undefined);
  if (st?.isFile()) await rm(file, { force: true });
}

/** The JSON object in a file's text, or undefined when it is not one (truncated, hand-edited). */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * The file of a record: hashed, since network and container names are free text as far as the
 * file system goes ("." and ".." are valid names); the content carries the names.
 */
export function recordFile(rec: Pick<PluginRecord, 'network' | 'container'>): string {
  return `${createHash('sha256').update(`${rec.network}\0${rec.container}`).digest('hex').slice(0, 32)}.json`;
}

/** Stable hash of a request (keys sorted), to notice a changed declaration. */
export function requestHash(request: unknown): string {
  return createHash('sha256').update(stableJson(request)).digest('hex').slice(0, 16);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const STRING_FIELDS = ['kind', 'network', 'container', 'containerId', 'endpointId', 'ifname', 'nsKey', 'netnsPath', 'requestHash', 'createdAt'] as const;

/** A record file's content, or undefined when it is not one (truncated, hand-edited, foreign). */
export function parseRecord(text: string): PluginRecord | undefined {
  const r = parseJsonObject(text);
  if (!r) return undefined;
  if (!STRING_FIELDS.every((k) => typeof r[k] === 'string')) return undefined;
  if (!r['result'] || typeof r['result'] !== 'object' || Array.isArray(r['result'])) return undefined;
  if (r['checkWarning'] !== undefined && typeof r['checkWarning'] !== 'string') return undefined;
  return r as unknown as PluginRecord;
}
