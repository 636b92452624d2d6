import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';

/** weft's temporary files are `<name>.weft-<pid>-<12 hex>`; group 1 is the writer's PID. */
export const TEMP_NAME = /\.weft-(\d+)-[0-9a-f]{12}$/;

/**
 * Replaces `file` whole: the content goes to a new file beside it (random name, created with
 * O_EXCL and without following links) that is then renamed over `file`. A reader sees the old or
 * the new file, never half of one (a weft killed mid-write leaves the old one whole), and a link
 * planted at `file` or at any guessable temporary name is replaced, never written through. The
 * temporary name carries the PID so that what a killed writer leaves can be told from a live
 * writer's file (TEMP_NAME).
 * Throws on I/O errors, after removing its temporary file.
 */
export async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.weft-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
