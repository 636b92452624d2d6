import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { InvalidManifestError, WeftError } from '../errors.js';
import type { Problem } from '../errors.js';
import { expandPaths } from '../manifest/index.js';
import type { Model } from '../model/index.js';
import { modelFromText } from '../model/index.js';

/**
 * Where the watch daemon's manifests come from: files and folders on disk (watched with
 * chokidar), or a git repository (see git-source.ts). Both hand the daemon a validated model and
 * a revision that names exactly what was loaded.
 */

export type SourceInfo =
  | { kind: 'files'; paths: string[] }
  | { kind: 'git'; url: string; ref: string; path?: string; intervalMs: number };

/** One load: a valid model, or the problems that made the manifests at this revision invalid. */
export interface SourceLoad {
  /** Files: a hash of the manifests' content; git: the commit. */
  revision: string;
  model?: Model;
  invalid?: InvalidManifestError;
}

export type SourceEvent =
  /** The manifests may have changed: load them again. */
  | { kind: 'changed' }
  /** The source cannot be read right now (git fetch failed); the last good manifests stay. */
  | { kind: 'error'; error: WeftError }
  /** The source is readable again, nothing changed. */
  | { kind: 'ok' };

export interface ManifestSource {
  readonly info: SourceInfo;
  /** Loads the current manifests. Throws SourceError when they cannot be read at all. */
  load(): Promise<SourceLoad>;
  /** Starts watching; `onEvent` is called on changes and fetch failures. */
  watch(onEvent: (e: SourceEvent) => void): void;
  /** Looks again at once (SIGHUP): a git source fetches now. */
  refresh(): Promise<void>;
  /** Notes that a revision was applied (a git source records its commit). */
  recordApplied(revision: string): Promise<void>;
  close(): Promise<void>;
}

/** The manifests cannot be read (a failed git fetch, a missing ref). The last good state stays. */
export class SourceError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SOURCE', message, options);
    this.name = 'SourceError';
  }
}

const YAML = /\.ya?ml$/;

/** A short content hash: the revision of manifests that have no commit. */
export function contentRevision(sources: readonly { file: string; text: string }[]): string {
  const h = createHash('sha256');
  for (const s of [...sources].sort((a, b) => a.file.localeCompare(b.file))) h.update(`${s.file}\0${s.text}\0`);
  return `sha256:${h.digest('hex').slice(0, 16)}`;
}

/** Validates manifest texts into a load result (invalid manifests are a result, not an exception). Pure. */
export function loadFromText(revision: string, sources: readonly { file: string; text: string }[], extra: readonly Problem[] = []): SourceLoad {
  try {
    const model = modelFromText(sources);
    if (extra.length > 0) return { revision, invalid: new InvalidManifestError(extra) };
    return { revision, model };
  } catch (err) {
    if (err instanceof InvalidManifestError) return { revision, invalid: new InvalidManifestError([...extra, ...err.problems]) };
    throw err;
  }
}

/**
 * Manifest files and folders given with -f, watched with chokidar (inotify). Editors that save by
 * renaming, new files and deleted files all count as changes; only *.yaml / *.yml files matter.
 */
export class FileSource implements ManifestSource {
  readonly info: SourceInfo;
  private watcher: FSWatcher | undefined;
  private closed = false;
  private starting: Promise<void> | undefined;

  constructor(private readonly paths: readonly string[]) {
    this.info = { kind: 'files', paths: [...paths] };
  }

  async load(): Promise<SourceLoad> {
    const { sources, problems } = await this.read();
    return loadFromText(contentRevision(sources), sources, problems);
  }

  /** The revision load() would give, without parsing anything (a cheap look for a change). */
  async revision(): Promise<string> {
    return contentRevision((await this.read()).sources);
  }

  private async read(): Promise<{ sources: { file: string; text: string }[]; problems: Problem[] }> {
    const { files, problems } = await expandPaths(this.paths);
    const sources: { file: string; text: string }[] = [];
    for (const file of files) {
      try {
        sources.push({ file, text: await readFile(file, 'utf8') });
      } catch (err) {
        // Deleted between listing and reading: the watcher reports it, and the next load is right.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SourceError(`reading ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    return { sources, problems };
  }

  watch(onEvent: (e: SourceEvent) => void): void {
    if (this.closed) return;
    const roots = new Set(this.paths.map((p) => path.resolve(p)));
    const failed = (err: unknown) => onEvent({ kind: 'error', error: new SourceError(`watching manifests: ${(err as Error).message}`, { cause: err }) });
    // chokidar is loaded here rather than at start-up: only `weft watch` needs it. Its watches
    // start asynchronously either way (it scans the folders first).
    this.starting = import('chokidar').then(({ watch }) => {
      if (this.closed) return;
      this.watcher = watch([...this.paths], {
        ignoreInitial: true,
        // Hidden files (editor swap files, .git) and anything that is not YAML are not manifests,
        // unless given with -f.
        ignored: (p, stats) => !roots.has(path.resolve(p)) && (path.basename(p).startsWith('.') || (stats?.isFile() === true && !YAML.test(p))),
      });
      this.watcher.on('all', () => onEvent({ kind: 'changed' }));
      this.watcher.on('error', failed);
    }, failed);
  }

  async refresh(): Promise<void> {
    /* files are read afresh by every load */
  }

  async recordApplied(): Promise<void> {
    /* the content hash is in the status; nothing to record */
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.starting;
    await this.watcher?.close();
  }
}
