import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseJsonObject, removeFile, writeJsonAtomic } from '../records.js';

/** A pool an IPAM plugin gave a network (released when the network goes). */
export interface IpamPoolRecord {
  poolId: string;
  /** CIDR */
  pool: string;
  /** The gateway address the IPAM plugin gave (ip/prefix), if any. */
  gateway?: string;
  v6: boolean;
}

/**
 * A network weft asked a Docker plugin to create (NetworkDriver.CreateNetwork): a plugin cannot be
 * listed, so this is how weft knows to create it once and to delete it when its last endpoint goes.
 */
export interface DockerNetworkRecord {
  network: string;
  plugin: string;
  networkId: string;
  /** The IPAM plugin that gave the pools, when the network names one. */
  ipamPlugin?: string;
  pools: IpamPoolRecord[];
  /** The CreateNetwork request as sent. */
  request: unknown;
  createdAt: string;
}

/**
 * One JSON file per network under `<stateDir>/plugins/<host>/docker/`, written atomically (a new
 * file renamed over the old), named by a hash since network names are not file names.
 */
export class DockerNetworkStore {
  readonly dir: string;
  constructor(stateDir: string, hostNetns: string) {
    this.dir = path.join(stateDir, 'plugins', hostNetns || 'root', 'docker');
  }

  async get(network: string): Promise<DockerNetworkRecord | undefined> {
    const text = await readFile(this.file(network), 'utf8').catch(() => undefined);
    const rec = text === undefined ? undefined : parseNetworkRecord(text);
    return rec?.network === network ? rec : undefined;
  }

  async list(): Promise<DockerNetworkRecord[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: DockerNetworkRecord[] = [];
    for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
      const rec = parseNetworkRecord(await readFile(path.join(this.dir, n), 'utf8').catch(() => ''));
      if (rec && path.basename(this.file(rec.network)) === n) out.push(rec);
    }
    return out;
  }

  async write(rec: DockerNetworkRecord): Promise<void> {
    await writeJsonAtomic(this.dir, path.basename(this.file(rec.network)), rec);
  }

  async remove(network: string): Promise<void> {
    await removeFile(this.file(network));
  }

  private file(network: string): string {
    return path.join(this.dir, `${createHash('sha256').update(`docker-network\0${network}`).digest('hex').slice(0, 32)}.json`);
  }
}

/** A record file's content, or undefined when it is not one (truncated, hand-edited). */
export function parseNetworkRecord(text: string): DockerNetworkRecord | undefined {
  const r = parseJsonObject(text);
  if (!r) return undefined;
  if (!['network', 'plugin', 'networkId', 'createdAt'].every((k) => typeof r[k] === 'string')) return undefined;
  if (r['ipamPlugin'] !== undefined && typeof r['ipamPlugin'] !== 'string') return undefined;
  const pools = r['pools'];
  if (!Array.isArray(pools) || !pools.every((p) => p && typeof p === 'object' && typeof (p as IpamPoolRecord).poolId === 'string' && typeof (p as IpamPoolRecord).pool === 'string')) return undefined;
  return r as unknown as DockerNetworkRecord;
}
