import { execFile } from 'node:child_process';

/** A tool weft drives, and the first line of its version output (null when it is not installed). */
export interface ToolVersion {
  name: string;
  version: string | null;
}

const TOOLS: readonly { name: string; argv: readonly string[] }[] = [
  { name: 'nftables', argv: ['nft', '--version'] },
  { name: 'iproute2', argv: ['ip', '-V'] },
  { name: 'bridge', argv: ['bridge', '-V'] },
  { name: 'graphviz', argv: ['dot', '-V'] },
];

function firstLine(argv: readonly string[]): Promise<string | null> {
  const [cmd, ...args] = argv;
  return new Promise((resolve) => {
    // dot prints its version on stderr.
    execFile(cmd!, args, { timeout: 5_000 }, (err, stdout, stderr) => {
      const text = `${stdout}${stderr}`.trim().split('\n')[0] ?? '';
      resolve(err && text === '' ? null : text || null);
    });
  });
}

/**
 * The versions of the kernel tools weft runs (nft, ip, bridge) and of Graphviz (weft graph).
 * Runs each tool once with its version flag; changes nothing.
 */
export async function toolVersions(): Promise<ToolVersion[]> {
  return Promise.all(TOOLS.map(async (t) => ({ name: t.name, version: await firstLine(t.argv) })));
}
