import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';

/**
 * Long-running weft processes (the DNS server, the daemon) keep sockets in the host namespace
 * that --host-netns names. Node cannot setns(2), so such a process runs itself again under
 * `nsenter --net=/run/netns/NS` with a marker in the environment (no loop), and the parent only
 * relays signals and the exit status.
 */

export const NETNS_ENV = 'WEFT_IN_NETNS';

/** Whether this process already runs in the namespace ("" is the machine's own). */
export function inHostNetns(hostNetns: string): boolean {
  return hostNetns === '' || process.env[NETNS_ENV] === hostNetns;
}

/**
 * Runs this same command line again inside the namespace and resolves with its exit status.
 * SIGINT, SIGTERM and SIGHUP are passed on. Throws UsageError when the namespace does not exist.
 */
export function reexecInNetns(hostNetns: string): Promise<number> {
  const path = `/run/netns/${hostNetns}`;
  if (!existsSync(path)) throw new UsageError(`--host-netns ${hostNetns}: no such namespace (${path}); create it with ip netns add ${hostNetns}`);
  const argv = [`--net=${path}`, '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const child = spawn('nsenter', argv, { stdio: 'inherit', env: { ...process.env, [NETNS_ENV]: hostNetns } });
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const relay = (sig: NodeJS.Signals) => child.kill(sig);
  for (const s of signals) process.on(s, relay);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const s of signals) process.off(s, relay);
      resolve(code ?? (signal ? 128 + 15 : 1));
    });
  });
}
