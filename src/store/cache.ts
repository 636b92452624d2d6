import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { PeerEndpoint } from '../compile/index.js';
import { parseEndpoint } from './endpoints.js';

/**
 * The last endpoints a daemon read from the membership store, in a file of its state directory:
 * a daemon that starts while the store does not answer programs its peers from them instead of
 * removing what it programmed before. Replaced whole (writeFileAtomic): a killed daemon leaves the old file, never half of one.
 */
export class EndpointCacheFile {
  constructor(readonly file: string) {}

  /** The kept endpoints; undefined when there is no (readable) file. Never throws. */
  async load(): Promise<PeerEndpoint[] | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const list = (JSON.parse(text) as { endpoints?: unknown }).endpoints;
      if (!Array.isArray(list)) return undefined;
      return list.map((e) => parseEndpoint(JSON.stringify(e))).filter((e): e is PeerEndpoint => e !== undefined);
    } catch {
      return undefined;
    }
  }

  /** Replaces the file's endpoints. Throws on I/O errors. */
  async save(endpoints: readonly PeerEndpoint[]): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, `${JSON.stringify({ savedAt: new Date().toISOString(), endpoints }, null, 1)}\n`, 0o600);
  }
}
