import { spawn } from 'node:child_process';
import { WeftError } from '../errors.js';

/** Graphviz is not installed: says which Debian package has it. */
export class GraphvizMissingError extends WeftError {
  constructor() {
    super('GRAPHVIZ_MISSING', "--format svg needs Graphviz's dot, which is not installed: apt-get install graphviz (or use --format dot or --format mermaid)");
  }
}

/**
 * Lays out dot text with Graphviz (`dot -Tsvg`) and returns the SVG. Graphviz rather than a JS
 * layout: it is Debian's mature, maintained layout engine for exactly this kind of picture (the
 * `graphviz` package). Throws GraphvizMissingError when dot is absent, WeftError when it fails.
 */
export function dotToSvg(dot: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('dot', ['-Tsvg'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? new GraphvizMissingError() : new WeftError('GRAPHVIZ', `running dot: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new WeftError('GRAPHVIZ', `dot -Tsvg failed (exit ${code ?? 'signal'}): ${Buffer.concat(err).toString('utf8').trim()}`));
    });
    child.stdin.on('error', () => undefined); // dot may exit before reading; its status tells
    child.stdin.end(dot);
  });
}
