import { readdir } from 'node:fs/promises';
import { run } from '../lib/proc.js';

/** Sanity checks between steps (untimed): a benchmark of a broken topology measures nothing. */

/** Throws unless the namespace has an IPv4 address on eth0 and a default route. */
export async function checkContainer(ns: string): Promise<void> {
  const r = await run(['nsenter', `--net=/run/netns/${ns}`, 'sh', '-c', 'ip -j -4 addr show dev eth0; ip -j route show default'], { timeoutMs: 30_000 });
  const [addrs = '[]', routes = '[]'] = r.stdout.trim().split('\n');
  const ok =
    r.code === 0 &&
    (JSON.parse(addrs) as { addr_info?: unknown[] }[]).some((l) => (l.addr_info ?? []).length > 0) &&
    (JSON.parse(routes) as { gateway?: string }[]).some((x) => x.gateway !== undefined);
  if (!ok) throw new Error(`container namespace ${ns} is not wired (eth0 address and default route expected): ${r.stderr}${r.stdout}`);
}

export async function countNamespaces(prefix: string): Promise<number> {
  try {
    return (await readdir('/run/netns')).filter((n) => n.startsWith(prefix)).length;
  } catch {
    return 0;
  }
}
