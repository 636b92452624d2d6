import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { netnsName } from '../compile/index.js';
import type { GlobalOptions } from './context.js';

/**
 * `weft exec CONTAINER -- CMD...`: runs CMD in the container's namespace through `ip netns exec`,
 * which bind-mounts /etc/netns/<netns>/ files over /etc (hosts, resolv.conf), with the terminal
 * passed through. Returns CMD's exit status.
 */
export async function runExec(g: GlobalOptions, container: string, argv: readonly string[]): Promise<number> {
  if (argv.length === 0) throw new UsageError('exec: no command; write weft exec CONTAINER -- CMD...');
  const ns = netnsName(g.hostNetns ?? '', container);
  if (!existsSync(`/run/netns/${ns}`)) {
    throw new UsageError(`exec: container "${container}" has no namespace here (/run/netns/${ns}); apply the manifests first, or run host-network containers' commands directly`);
  }
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1)));
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGHUP: 1 };
  return table[sig];
}
