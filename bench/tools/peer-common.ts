import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command, ToolContext } from '../lib/context.js';
import { run } from '../lib/proc.js';

/**
 * What the peer drivers share. A peer runs per container (its real usage: the engine calls it once
 * per container start); the loop is a bash script run inside the peer's throwaway host namespace
 * with `ip netns exec`, so the only per-container cost is the tool's own. The container namespaces
 * are made beforehand in the same step with one `ip -batch` (as cheap as weft's), so the peers'
 * timings include namespace creation as weft's do.
 */

export function netnsAdd(names: readonly string[]): Command {
  return { argv: ['ip', '-batch', '-'], input: names.map((n) => `netns add ${n}\n`).join('') };
}

export function netnsDel(names: readonly string[]): Command {
  return { argv: ['ip', '-batch', '-'], input: names.map((n) => `netns del ${n}\n`).join('') };
}

let scriptSeq = 0;

/** A bash script, written to a file, run inside the host namespace (bash itself is not counted). */
export async function hostScript(ctx: ToolContext, host: string, body: string): Promise<Command> {
  const file = path.join(ctx.tmp, `script-${++scriptSeq}.sh`);
  await writeFile(file, `set -e\n${body}`);
  return { argv: ['ip', 'netns', 'exec', host, 'bash', file], driverExecs: 1 };
}

/** Runs an untimed command that must succeed (set-up and tear-down outside the measured steps). */
export async function quietly(c: Command): Promise<void> {
  const r = await run(c.argv, { timeoutMs: 600_000, ...(c.input !== undefined ? { input: c.input } : {}) });
  if (r.code !== 0) throw new Error(`${c.argv.join(' ').slice(0, 200)} failed: ${r.stderr}`);
}

/** Whether the host namespace's iptables (netavark 1.4 and the CNI plugins use them) mention a port. */
export async function iptablesMention(host: string, port: number): Promise<boolean> {
  const r = await run(['ip', 'netns', 'exec', host, 'iptables-save']);
  return r.stdout.includes(String(port));
}

/** A stable 64-hex id from a name (container and network ids for netavark and CNI). */
export function hexId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}
