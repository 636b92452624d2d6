import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';

/**
 * Running weft itself inside the host namespace. Node cannot call setns(), so a command that must
 * own sockets there (the daemon's HTTP listener, `weft status` reaching it) starts itself again
 * under `nsenter --net=/run/netns/NS`, marked with an environment variable so it does not loop.
 * The kernel layer's own `nsenter` calls keep working from inside.
 */

export const NETNS_MARKER = 'WEFT_INSIDE_NETNS';

/** Whether this process already runs inside the named host namespace (started by runSelfInNetns). */
export function insideNetns(name: string): boolean {
  return process.env[NETNS_MARKER] === name;
}

/**
 * Runs this same program with the given arguments inside /run/netns/NAME and resolves with its
 * exit code. SIGTERM, SIGINT and SIGHUP are passed on; the child gets SIGTERM if this process dies
 * (setpriv --pdeathsig), so it never outlives its parent. Throws UsageError if the namespace does
 * not exist.
 */
export function runSelfInNetns(name: string, args: readonly string[]): Promise<number> {
  const nsPath = `/run/netns/${name}`;
  if (!existsSync(nsPath)) throw new UsageError(`--host-netns ${name}: no such network namespace (${nsPath}); create it with ip netns add ${name}`);
  const script = process.argv[1];
  if (!script) throw new UsageError('cannot tell which script to run again inside the namespace');
  const argv = ['nsenter', `--net=${nsPath}`, 'setpriv', '--pdeathsig', 'TERM', process.execPath, ...process.execArgv, script, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, [NETNS_MARKER]: name } });
  const forward = (sig: NodeJS.Signals) => () => {
    try {
      child.kill(sig);
    } catch {
      /* already gone */
    }
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  const handlers = signals.map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 1));
    });
  });
}
