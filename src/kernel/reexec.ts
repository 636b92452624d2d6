import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { UsageError } from '../errors.js';

/**
 * Long-running weft processes (the DNS server, the daemon) keep sockets in the host namespace
 * that --host-netns names. Node cannot setns(2), so such a process runs itself again under
 * `nsenter --net=/run/netns/NS` with a marker in the environment (no loop), and the parent only
 * relays signals and the exit status.
 */

export const NETNS_ENV = 'WEFT_IN_NETNS';
/** The child's file descriptor of a pipe from the parent: end of file means the parent is gone. */
const PARENT_FD_ENV = 'WEFT_PARENT_FD';
const PARENT_FD = 3;

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
  const child = spawn('nsenter', argv, {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    env: { ...process.env, [NETNS_ENV]: hostNetns, [PARENT_FD_ENV]: String(PARENT_FD) },
  });
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

/**
 * In a re-executed child: calls `onGone` when the parent dies (even by SIGKILL, which it cannot
 * relay), so no server outlives the command that started it. Does nothing in other processes.
 * Returns a function that stops watching (the open pipe would keep the process alive).
 */
export function onParentGone(onGone: () => void): () => void {
  const fd = Number(process.env[PARENT_FD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return () => undefined;
  // A socket handle, not a file stream: a pending fs read could never be cancelled. Unref'd, so
  // it never keeps the process alive by itself.
  const pipe = new net.Socket({ fd, readable: true, writable: false });
  pipe.unref();
  pipe.on('data', () => undefined);
  pipe.on('end', onGone);
  pipe.on('error', onGone);
  return () => {
    pipe.off('end', onGone);
    pipe.off('error', onGone);
    pipe.destroy();
  };
}
