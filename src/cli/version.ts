import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { Command } from 'commander';
import type { ToolVersion } from '../kernel/index.js';
import { toolVersions } from '../kernel/index.js';

/** What `weft version` reports. */
export interface VersionInfo {
  weft: string;
  commit: string;
  dirty: boolean;
  builtAt?: string;
  kernel: string;
  node: string;
  tools: ToolVersion[];
}

async function readJson(url: URL): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(url, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * weft's version (package.json), the commit it was built from (dist/build-info.json, written by
 * `npm run build`; "unknown" outside git or when run from source), the kernel release and the
 * versions of the tools it drives.
 */
export async function versionInfo(): Promise<VersionInfo> {
  // From dist/cli/version.js (or src/cli/version.ts): the package root is two folders up.
  const [pkg, build, tools] = await Promise.all([
    readJson(new URL('../../package.json', import.meta.url)),
    readJson(new URL('../build-info.json', import.meta.url)),
    toolVersions(),
  ]);
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const builtAt = str(build?.['builtAt']);
  return {
    weft: str(pkg?.['version']) ?? 'unknown',
    commit: str(build?.['commit']) ?? 'unknown',
    dirty: build?.['dirty'] === true,
    ...(builtAt !== undefined ? { builtAt } : {}),
    kernel: os.release(),
    node: process.version,
    tools,
  };
}

/** `weft version` for a person. Pure. */
export function formatVersion(v: VersionInfo): string[] {
  const commit = `${v.commit}${v.dirty ? ' (with uncommitted changes)' : ''}${v.builtAt ? `, built ${v.builtAt}` : ''}`;
  const rows: [string, string][] = [
    ['commit', commit],
    ['kernel', `Linux ${v.kernel}`],
    ['node', v.node],
    ...v.tools.map((t): [string, string] => [t.name, t.version ?? 'not found']),
  ];
  return [`weft ${v.weft}`, ...rows.map(([k, val]) => `${`${k}:`.padEnd(10)}${val}`)];
}

export function registerVersionCommand(program: Command): void {
  program
    .command('version')
    .description("weft's version and commit, the kernel release and the tools found")
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const v = await versionInfo();
      console.log(opts.json ? JSON.stringify(v, null, 2) : formatVersion(v).join('\n'));
    });
}
