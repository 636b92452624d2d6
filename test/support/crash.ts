import { spawn } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { INTENT_DIR } from '../../src/kernel/netns-intents.js';
import { isForeign } from './foreign.js';
import { killGroup, run, weftBin, type TestHost } from './netns.js';

/**
 * The kill-anywhere harness (issue 16): starts a weft command in a process group of its own and
 * SIGKILLs the whole group (weft, its re-exec under nsenter, every helper it spawned) after a
 * delay drawn from a seeded generator, so that any failure can be replayed with the same SEED.
 */

/** mulberry32: a small seeded generator; the same seed gives the same kill delays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Two manifest sets over 3 networks: between them every container changes network and port. */
export function crashManifests(count: number, set: 0 | 1): Record<string, string> {
  const nets = [0, 1, 2].map(
    (n) => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: cn${n}}\nspec:\n  driver: bridge\n  ipam:\n    config:\n      - subnet: 10.${210 + n}.0.0/24\n`,
  );
  const ctrs: string[] = [];
  for (let i = 0; i < count; i++) {
    const net = `cn${(i + set) % 3}`;
    const port = (set === 0 ? 20000 : 21000) + i;
    ctrs.push(`apiVersion: weft/v1\nkind: Container\nmetadata: {name: c${i}}\nspec:\n  networks: [${net}]\n  ports: ["${port}:80"]\n`);
  }
  return { 'networks.yaml': nets.join('---\n'), 'containers.yaml': ctrs.join('---\n') };
}

export function tempDir(host: TestHost): string {
  return path.join(host.dir, 'tmp');
}

export async function prepareTemp(host: TestHost): Promise<void> {
  await mkdir(tempDir(host), { recursive: true });
}

/** Runs weft against the host in its own process group; returns when it exits (code, ms). */
export async function timedWeft(host: TestHost, args: readonly string[]): Promise<{ code: number; ms: number; out: string }> {
  const started = Date.now();
  const r = await startWeft(host, args).exited;
  return { code: r.code, ms: Date.now() - started, out: r.out };
}

export interface Started {
  pid: number;
  exited: Promise<{ code: number; signal: NodeJS.Signals | null; out: string }>;
}

/** weft in a process group of its own (detached), so one kill reaches all it started. */
export function startWeft(host: TestHost, args: readonly string[]): Started {
  // TMPDIR of the host's own: temporary files a killed weft leaves are this test's to find.
  const env = { ...process.env, TMPDIR: tempDir(host) };
  const child = spawn('node', [weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number; signal: NodeJS.Signals | null; out: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code: code ?? 1, signal, out })),
  );
  return { pid: child.pid ?? -1, exited };
}

/**
 * Starts weft, SIGKILLs its group after delayMs (if it is still running), and waits until no
 * process of the group is left (a helper that outlived weft would still be writing).
 */
export async function killAfter(host: TestHost, args: readonly string[], delayMs: number): Promise<{ killed: boolean; code: number }> {
  const s = startWeft(host, args);
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    killGroup(s.pid);
  }, delayMs);
  const r = await s.exited;
  clearTimeout(timer);
  // The group may outlive its leader for a moment: wait until the kernel has reaped all of it.
  for (let i = 0; i < 100 && groupAlive(s.pid); i++) {
    killGroup(s.pid);
    await new Promise((res) => setTimeout(res, 20));
  }
  return { killed: killed && r.signal === 'SIGKILL', code: r.code };
}

/** SIGKILLs a process group and waits until the kernel has reaped every process of it. */
export async function killAndReap(pgid: number, exited: Promise<unknown>): Promise<void> {
  killGroup(pgid);
  await exited;
  for (let i = 0; i < 100 && groupAlive(pgid); i++) {
    killGroup(pgid);
    await new Promise((res) => setTimeout(res, 20));
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The lines of `weft plan` that would change something. */
export function planChanges(stdout: string): string[] {
  return stdout.split('\n').filter((l) => /^[+~-] /.test(l));
}

/** IPv4/IPv6 global addresses held by more than one container namespace of this host. */
export async function duplicateAddresses(host: TestHost): Promise<string[]> {
  const seen = new Map<string, string>();
  const dups: string[] = [];
  for (const ns of await containerNamespaces(host)) {
    const r = await run(['ip', '-n', ns, '-j', 'addr', 'show']);
    if (r.code !== 0) continue; // deleted between the listing and now
    const links = JSON.parse(r.stdout || '[]') as { ifname: string; addr_info?: { local: string; scope: string }[] }[];
    for (const l of links)
      for (const a of l.addr_info ?? []) {
        if (a.scope !== 'global') continue;
        const other = seen.get(a.local);
        if (other) dups.push(`${a.local} in ${other} and ${ns}/${l.ifname}`);
        else seen.set(a.local, `${ns}/${l.ifname}`);
      }
  }
  return dups;
}

export async function containerNamespaces(host: TestHost): Promise<string[]> {
  return (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith(`${host.name}-`));
}

/** Everything of weft's that could be left on this host after a destroy; empty when clean. */
export async function leftovers(host: TestHost): Promise<string[]> {
  return (await everything(host)).filter((o) => !isForeign(o));
}

async function everything(host: TestHost): Promise<string[]> {
  const out: string[] = [];
  for (const ns of await containerNamespaces(host)) out.push(`namespace ${ns}`);
  const etc = (await readdir('/etc/netns').catch(() => [] as string[])).filter((n) => n.startsWith(`${host.name}-`));
  for (const d of etc) out.push(`/etc/netns/${d}`);
  const intents = (await readdir(INTENT_DIR).catch(() => [] as string[])).filter((n) => n === host.name || n.startsWith(`${host.name}-`));
  for (const f of intents) out.push(`intent ${INTENT_DIR}/${f}`);
  const links = JSON.parse((await run(['ip', '-n', host.name, '-j', 'link', 'show'])).stdout || '[]') as { ifname: string; ifalias?: string }[];
  for (const l of links) if (l.ifname !== 'lo') out.push(`link ${l.ifname}${l.ifalias ? ` (${l.ifalias})` : ''}`);
  const nft = JSON.parse((await run(['ip', 'netns', 'exec', host.name, 'nft', '-j', 'list', 'tables'])).stdout || '{"nftables":[]}') as { nftables: { table?: { family: string; name: string } }[] };
  for (const t of nft.nftables) if (t.table) out.push(`nft table ${t.table.family} ${t.table.name}`);
  for (const f of await readdir(tempDir(host)).catch(() => [] as string[])) out.push(`temp ${f}`);
  // The state files that stay on purpose (docs/crash.md): the lock and the networks' record.
  const kept = [`${host.name}.lock`, `${host.name}.networks.json`];
  for (const f of await readdir(host.stateDir).catch(() => [] as string[])) if (!kept.includes(f)) out.push(`state ${f}`);
  return out;
}

/** Half-written files (`<file>.weft-<random>`) in this host's /etc/netns folders. */
export async function strayEtcTemps(host: TestHost): Promise<string[]> {
  const out: string[] = [];
  const dirs = (await readdir('/etc/netns').catch(() => [] as string[])).filter((n) => n.startsWith(`${host.name}-`));
  for (const d of dirs) for (const f of await readdir(`/etc/netns/${d}`).catch(() => [] as string[])) if (f.includes('.weft-')) out.push(`/etc/netns/${d}/${f}`);
  return out;
}
