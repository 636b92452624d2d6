import { spawn } from 'node:child_process';
import { PluginError } from '../types.js';

/**
 * Runs one CNI plugin binary as the CNI spec says: the command and its arguments in the
 * environment, the configuration on stdin, the result (or an error object) on stdout. Under
 * --host-netns it runs inside that namespace (`ip netns exec`, which also gives it that
 * namespace's /sys, as plugins expect). A plugin that does not answer within the timeout is
 * killed (its process group: the IPAM plugins it started go too).
 */

export interface CniCall {
  /** Absolute path of the plugin binary (found in the plugin folders, never built from free text). */
  binary: string;
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_PATH: where the plugin finds the plugins it delegates to (IPAM). */
  path: string;
  stdin: unknown;
  hostNetns: string;
  timeoutMs: number;
}

/** Bytes of stdout read at most: a plugin answering megabytes is broken, not trusted. */
const MAX_OUTPUT = 1024 * 1024;

/**
 * Runs the plugin; resolves with its parsed stdout (undefined when it printed nothing, as DEL
 * may). Throws PluginError with the plugin's own error message, or what went wrong running it.
 */
export function runCni(call: CniCall): Promise<unknown> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: call.command,
    CNI_PATH: call.path,
    ...(call.containerId !== undefined ? { CNI_CONTAINERID: call.containerId } : {}),
    ...(call.netns !== undefined ? { CNI_NETNS: call.netns } : {}),
    ...(call.ifname !== undefined ? { CNI_IFNAME: call.ifname } : {}),
  };
  const argv = call.hostNetns ? ['ip', 'netns', 'exec', call.hostNetns, call.binary] : [call.binary];
  const name = call.binary.slice(call.binary.lastIndexOf('/') + 1);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let failure: string | undefined;
    const kill = (why: string) => {
      failure ??= why;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => kill(`${name} ${call.command} did not answer within ${call.timeoutMs} ms (killed)`), call.timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_OUTPUT) kill(`${name} ${call.command} printed more than ${MAX_OUTPUT} bytes (killed)`);
      else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.reduce((n, x) => n + x.length, 0) < 4096) err.push(b);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new PluginError(`${name} ${call.command}: cannot run ${call.binary}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (failure !== undefined) return reject(new PluginError(failure));
      const stdout = Buffer.concat(out).toString('utf8').trim();
      const stderr = oneLine(Buffer.concat(err).toString('utf8'));
      let parsed: unknown;
      try {
        parsed = stdout === '' ? undefined : JSON.parse(stdout);
      } catch {
        return reject(new PluginError(`${name} ${call.command} answered something that is not JSON: ${JSON.stringify(stdout.slice(0, 120))}${stderr ? ` (stderr: ${stderr})` : ''}`));
      }
      if (code !== 0) return reject(new PluginError(`${name} ${call.command} failed (exit ${code ?? 'signal'}): ${cniErrorText(parsed) ?? (stderr || 'no message')}`));
      resolve(parsed);
    });
    child.stdin.on('error', () => {
      /* the plugin may exit before reading its input; its exit status tells the story */
    });
    child.stdin.end(JSON.stringify(call.stdin));
  });
}

/** The message of a CNI error object ({code, msg, details}). */
function cniErrorText(v: unknown): string | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const e = v as { code?: unknown; msg?: unknown; details?: unknown };
  if (typeof e.msg !== 'string') return undefined;
  const details = typeof e.details === 'string' && e.details !== '' ? `: ${e.details}` : '';
  return oneLine(`${e.msg}${details}${typeof e.code === 'number' ? ` (CNI error ${e.code})` : ''}`);
}

/** Plugin text as one printable line, short: it goes into messages and logs. */
function oneLine(s: string): string {
  const t = s.replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ').trim();
  return t.length > 300 ? `${t.slice(0, 300)}...` : t;
}
