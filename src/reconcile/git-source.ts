import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { Logger } from '../log.js';
import { redactSecrets } from '../redact.js';
import type { ManifestSource, SourceEvent, SourceInfo, SourceLoad } from './watch.js';
import { SourceError, loadFromText } from './watch.js';

export interface GitSourceOptions {
  url: string;
  ref: string;
  /** A folder (or file) inside the repository; default: the whole repository. */
  path?: string;
  intervalMs: number;
  /** A bare repository weft keeps for itself (created if missing). */
  dir: string;
  log: Logger;
}

const FETCHED = 'refs/weft/source';
const YAML = /\.ya?ml$/;

interface GitResult {
  stdout: Buffer;
}

/**
 * Manifests from a git repository, with the git CLI: a shallow fetch of the ref into a bare
 * repository of weft's own every interval, then the *.yaml files under --path read straight from
 * the fetched commit (`git cat-file --batch`, no checkout). Error positions name files relative to
 * the repository root. A commit whose manifests are invalid is reported and skipped; the daemon
 * keeps the last good one until a newer commit is valid.
 */
export class GitSource implements ManifestSource {
  readonly info: SourceInfo;
  private commit: string | undefined;
  private cached: SourceLoad | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private onEvent: ((e: SourceEvent) => void) | undefined;
  private failing = false;
  private closed = false;

  /** The URL as shown and logged: without credentials (opts.url keeps them for git itself). */
  private readonly shownUrl: string;

  constructor(private readonly opts: GitSourceOptions) {
    this.shownUrl = redactSecrets(opts.url);
    this.info = { kind: 'git', url: this.shownUrl, ref: opts.ref, ...(opts.path !== undefined ? { path: opts.path } : {}), intervalMs: opts.intervalMs };
  }

  /** The commit the ref pointed at in the last successful fetch. */
  get fetchedCommit(): string | undefined {
    return this.commit;
  }

  async load(): Promise<SourceLoad> {
    if (this.commit === undefined) await this.serial(() => this.fetch());
    const commit = this.commit;
    if (commit === undefined) throw new SourceError(`git ${this.shownUrl}: nothing fetched yet`);
    if (this.cached?.revision === commit) return this.cached;
    const loaded = await this.serial(() => this.readAt(commit));
    this.cached = loaded;
    return loaded;
  }

  watch(onEvent: (e: SourceEvent) => void): void {
    if (this.closed) return;
    this.onEvent = onEvent;
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.poll().finally(() => {
          if (!this.closed) tick();
        });
      }, this.opts.intervalMs);
    };
    tick();
  }

  async refresh(): Promise<void> {
    await this.poll();
  }

  async recordApplied(revision: string): Promise<void> {
    const record = { url: this.shownUrl, ref: this.opts.ref, path: this.opts.path ?? '', commit: revision, appliedAt: new Date().toISOString() };
    // Replaced whole: a daemon killed mid-write leaves the previous record, never half of one.
    await writeFileAtomic(path.join(this.opts.dir, 'weft-applied.json'), `${JSON.stringify(record, null, 2)}\n`);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.queue.catch(() => undefined);
  }

  /** Fetches; tells the daemon about a new commit, a failure, or a recovery. */
  private async poll(): Promise<void> {
    const before = this.commit;
    try {
      await this.serial(() => this.fetch());
    } catch (err) {
      this.failing = true;
      this.onEvent?.({ kind: 'error', error: err instanceof SourceError ? err : new SourceError(String(err), { cause: err }) });
      return;
    }
    const recovered = this.failing;
    this.failing = false;
    if (this.commit !== before) this.onEvent?.({ kind: 'changed' });
    else if (recovered) this.onEvent?.({ kind: 'ok' });
  }

  /** One git operation at a time: a poll and a load never race on the repository. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async fetch(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    await this.git(['init', '--quiet', '--bare']);
    await this.git(['fetch', '--quiet', '--no-tags', '--depth=1', '--', this.opts.url, `+${this.opts.ref}:${FETCHED}`]);
    const commit = (await this.git(['rev-parse', '--verify', `${FETCHED}^{commit}`])).stdout.toString('utf8').trim();
    if (commit !== this.commit) this.opts.log.info({ url: this.shownUrl, ref: this.opts.ref, commit }, 'git source fetched a new commit');
    this.commit = commit;
  }

  private async readAt(commit: string): Promise<SourceLoad> {
    const scope = this.opts.path ? ['--', this.opts.path] : [];
    const listed = await this.git(['ls-tree', '-r', '-z', '--name-only', commit, ...scope]);
    const files = listed.stdout
      .toString('utf8')
      .split('\0')
      .filter((f) => YAML.test(f) && !f.split('/').some((part) => part.startsWith('.')))
      .sort();
    const texts = files.length > 0 ? parseCatFileBatch((await this.git(['cat-file', '--batch'], files.map((f) => `${commit}:${f}`).join('\n') + '\n')).stdout) : [];
    const sources = files.map((file, i) => ({ file, text: texts[i] ?? '' }));
    const problems =
      files.length === 0
        ? [{ code: 'NO_MANIFESTS', pos: { file: this.opts.path ?? '.', line: 1, col: 1 }, message: `commit ${commit.slice(0, 12)} has no *.yaml files under "${this.opts.path ?? '/'}"`, hint: 'check --path and the ref' }]
        : [];
    return loadFromText(commit, sources, problems);
  }

  private git(args: readonly string[], input?: string): Promise<GitResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        'git',
        ['-C', this.opts.dir, ...args],
        { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024, timeout: 120_000, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } },
        (err, stdout, stderr) => {
          // The arguments hold the URL and git's own messages may repeat it: both are redacted.
          if (err) reject(new SourceError(redactSecrets(`git ${args.filter((a) => a !== '--').join(' ')}: ${stderr.toString('utf8').trim() || err.message}`)));
          else resolve({ stdout });
        },
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  }
}

/** Splits `git cat-file --batch` output ("<sha> blob <size>\n<content>\n" per object). Pure. */
export function parseCatFileBatch(buf: Buffer): string[] {
  const texts: string[] = [];
  let at = 0;
  while (at < buf.length) {
    const nl = buf.indexOf(0x0a, at);
    if (nl < 0) break;
    const header = buf.subarray(at, nl).toString('utf8').split(' ');
    if (header[1] === 'missing') {
      texts.push('');
      at = nl + 1;
      continue;
    }
    const size = Number(header[2]);
    texts.push(buf.subarray(nl + 1, nl + 1 + size).toString('utf8'));
    at = nl + 1 + size + 1;
  }
  return texts;
}
