import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A throwaway git "remote" (a bare repository) and a working clone that pushes to it: the GitOps
 * source of the watch daemon's tests. Needs the git CLI, no privileges.
 */
export class GitRemote {
  private constructor(
    readonly dir: string,
    readonly url: string,
    private readonly work: string,
  ) {}

  static async create(): Promise<GitRemote> {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-git-'));
    const url = path.join(dir, 'remote.git');
    const work = path.join(dir, 'work');
    execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', url]);
    execFileSync('git', ['init', '--quiet', '--initial-branch=main', work]);
    return new GitRemote(dir, url, work);
  }

  private git(args: string[]): string {
    return execFileSync('git', ['-C', this.work, '-c', 'user.name=weft test', '-c', 'user.email=test@weft.invalid', ...args], { encoding: 'utf8' }).trim();
  }

  /** Replaces the files (path -> text; null deletes), commits and pushes; returns the commit hash. */
  async commit(files: Record<string, string | null>, message = 'change'): Promise<string> {
    for (const [f, text] of Object.entries(files)) {
      const full = path.join(this.work, f);
      if (text === null) await rm(full, { force: true });
      else {
        await mkdir(path.dirname(full), { recursive: true });
        await writeFile(full, text);
      }
    }
    this.git(['add', '-A']);
    this.git(['commit', '--quiet', '--allow-empty', '-m', message]);
    this.git(['push', '--quiet', this.url, 'HEAD:main']);
    return this.git(['rev-parse', 'HEAD']);
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
