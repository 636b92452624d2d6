// Build step: records the git commit weft is built from in dist/build-info.json, for `weft version`.
// Outside a git checkout (a tarball, an image without .git) the commit is "unknown".
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { URL } from 'node:url';

const root = new URL('..', import.meta.url);
function git(...args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}
const commit = git('rev-parse', 'HEAD') || 'unknown';
const dirty = commit !== 'unknown' && git('status', '--porcelain', '--untracked-files=no') !== '';
writeFileSync(new URL('dist/build-info.json', root), `${JSON.stringify({ commit, dirty, builtAt: new Date().toISOString() }, null, 2)}\n`);
