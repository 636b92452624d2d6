import { constants } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Files handed to commands (nft -f, bridge -batch) in a folder of weft's own: mkdtemp makes it
 * with a random name and mode 0700, so nobody else can plant a name in it, and each file is
 * created new (O_EXCL) without following symlinks (O_NOFOLLOW). Nothing is ever written under a
 * predictable name in /tmp or $TMPDIR. The folder is made on first use; remove() deletes it.
 */
export class PrivateTemp {
  private dir: Promise<string> | undefined;
  private seq = 0;

  /** Writes `content` to a new file in the private folder and returns its path. */
  async file(kind: string, content: string): Promise<string> {
    this.dir ??= mkdtemp(path.join(tmpdir(), 'weft-'));
    const f = path.join(await this.dir, `${kind}-${++this.seq}`);
    const fh = await open(f, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    return f;
  }

  /** Removes the folder and everything in it (nothing if it was never made). */
  async remove(): Promise<void> {
    const dir = this.dir;
    this.dir = undefined;
    if (!dir) return;
    await rm(await dir, { recursive: true, force: true });
  }
}
