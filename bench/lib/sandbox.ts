import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { killAll, must, run } from './proc.js';

/**
 * Everything one benchmark run creates carries its id: namespaces `bn<id>…` (weft) and `bx<id>…`
 * (peers), /etc/netns folders of the same names, and the work folder /tmp/weft-bench/<id>.
 * cleanup() removes all of it; a later run also removes what a killed run left behind.
 */

const ROOT = path.join(tmpdir(), 'weft-bench');

export class Sandbox {
  private constructor(
    readonly id: string,
    readonly dir: string,
  ) {}

  /** weft's namespaces start with this (the hosts weft runs in, and their containers). */
  get weftPrefix(): string {
    return `bn${this.id}`;
  }

  /** Peer tools' namespaces start with this. */
  get peerPrefix(): string {
    return `bx${this.id}`;
  }

  static async create(): Promise<Sandbox> {
    await sweepStale();
    const id = randomBytes(2).toString('hex');
    const dir = path.join(ROOT, id);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'owner.pid'), String(process.pid));
    return new Sandbox(id, dir);
  }

  /** A folder inside the work folder (created). */
  async sub(name: string): Promise<string> {
    const d = path.join(this.dir, name);
    await rm(d, { recursive: true, force: true });
    await mkdir(d, { recursive: true });
    return d;
  }

  /** Creates a throwaway namespace with loopback up (a "host" for one tool and one run). */
  async hostNamespace(name: string): Promise<string> {
    if (!name.startsWith(this.weftPrefix) && !name.startsWith(this.peerPrefix)) throw new Error(`namespace ${name} is outside this run`);
    await must(['ip', 'netns', 'add', name]);
    await must(['nsenter', `--net=/run/netns/${name}`, 'ip', 'link', 'set', 'lo', 'up']);
    // What weft copies into containers' resolv.conf: a documentation address, never the machine's.
    await mkdir(`/etc/netns/${name}`, { recursive: true });
    await writeFile(`/etc/netns/${name}/resolv.conf`, 'nameserver 198.18.0.53\n');
    return name;
  }

  /** Deletes every namespace and /etc/netns folder whose name starts with `prefix` (of this run). */
  async removeNamespaces(prefix: string): Promise<void> {
    if (!prefix.startsWith(this.weftPrefix) && !prefix.startsWith(this.peerPrefix)) throw new Error(`prefix ${prefix} is outside this run`);
    await removeByPrefix(prefix);
  }

  /** Ends this run's processes and removes everything it created. Safe to call more than once. */
  async cleanup(): Promise<void> {
    killAll();
    await removeByPrefix(this.weftPrefix);
    await removeByPrefix(this.peerPrefix);
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function removeByPrefix(prefix: string): Promise<void> {
  const names = (await list('/run/netns')).filter((n) => n.startsWith(prefix));
  if (names.length > 0) {
    // Containers first, hosts last: a host's bridges lose their ports as the containers go.
    const sorted = names.sort((a, b) => b.length - a.length);
    await run(['ip', '-batch', '-'], { input: sorted.map((n) => `netns del ${n}\n`).join(''), timeoutMs: 300_000 });
    // A name ip could not delete (busy mount, already gone) is retried one by one.
    for (const n of (await list('/run/netns')).filter((x) => x.startsWith(prefix))) await run(['ip', 'netns', 'del', n]);
  }
  for (const d of (await list('/etc/netns')).filter((n) => n.startsWith(prefix))) await rm(`/etc/netns/${d}`, { recursive: true, force: true });
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes what earlier runs that died without cleaning up (SIGKILL, power loss) left behind. */
async function sweepStale(): Promise<void> {
  for (const id of await list(ROOT)) {
    let pid = Number.NaN;
    try {
      pid = Number(await readFile(path.join(ROOT, id, 'owner.pid'), 'utf8'));
    } catch {
      /* no owner file: an incomplete run folder */
    }
    if (Number.isInteger(pid) && alive(pid)) continue;
    if (!/^[0-9a-f]{4}$/.test(id)) continue;
    console.error(`bench: removing leftovers of an earlier run (${id})`);
    await removeByPrefix(`bn${id}`);
    await removeByPrefix(`bx${id}`);
    await rm(path.join(ROOT, id), { recursive: true, force: true });
  }
}
