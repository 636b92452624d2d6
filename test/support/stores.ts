import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestHost } from './netns.js';
import { eventually, run } from './netns.js';
import type { Underlay } from './underlay.js';

/**
 * The membership stores the multi-host tests run against, started in the underlay's switch
 * namespace on its outside address (never the machine's own namespace, never a system service).
 */
export type StoreKind = 'etcd' | 'zk';
export const storeKinds: StoreKind[] = ['etcd', 'zk'];

export interface StoreServer {
  kind: StoreKind;
  /** The --store URL, without options. */
  url: string;
  /** An outage: the server stops (SIGTERM); its data stays for restart(). */
  stop(): Promise<void>;
  restart(): Promise<void>;
}

export async function startStore(kind: StoreKind, ul: Underlay): Promise<StoreServer> {
  if (kind === 'zk') return ZkServer.start(ul.sw, ul.outside, ul);
  const url = (await ul.startEtcd(60)).replace(/\?.*$/, '');
  return { kind, url, stop: () => ul.stopEtcd(), restart: () => ul.restartEtcd() };
}

/**
 * Debian's ZooKeeper (package zookeeperd: /usr/share/java/zookeeper.jar) run standalone by the
 * test: its own config and data folder, listening on ADDRESS:2181 only, inside namespace `ns`.
 * Short ticks so sessions as short as 1 s can be negotiated (the tests use TTLs of a few seconds).
 */
export class ZkServer implements StoreServer {
  readonly kind = 'zk';
  private proc: { pid: number; exited: Promise<number>; output: () => string } | undefined;

  private constructor(private readonly ns: TestHost, readonly address: string, private readonly dir: string) {}

  get url(): string {
    return `zk://${this.address}:2181`;
  }

  static async start(ns: TestHost, address: string, owner: { onCleanup(fn: () => Promise<unknown>): void }): Promise<ZkServer> {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-zk-'));
    const zk = new ZkServer(ns, address, dir);
    owner.onCleanup(async () => {
      await zk.stop();
      await rm(dir, { recursive: true, force: true });
    });
    await writeFile(
      path.join(dir, 'zoo.cfg'),
      [
        'tickTime=500',
        `dataDir=${path.join(dir, 'data')}`,
        'clientPort=2181',
        `clientPortAddress=${address}`,
        'minSessionTimeout=1000',
        'maxSessionTimeout=120000',
        'maxClientCnxns=0',
        'admin.enableServer=false',
        '4lw.commands.whitelist=ruok,mntr,srvr,cons,wchs',
        '',
      ].join('\n'),
    );
    await zk.restart();
    return zk;
  }

  async restart(): Promise<void> {
    if (this.proc) return;
    this.proc = this.ns.spawn([
      'ip', 'netns', 'exec', this.ns.name, 'java', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
      '-cp', '/usr/share/java/zookeeper.jar', 'org.apache.zookeeper.server.ZooKeeperServerMain', path.join(this.dir, 'zoo.cfg'),
    ]);
    await eventually(async () => (await this.fourLetters('ruok')) === 'imok', 60_000, 200);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    await p.exited;
  }

  /** A ZooKeeper four-letter command (ruok, mntr, ...), answered from inside the namespace. */
  async fourLetters(cmd: string): Promise<string> {
    const r = await run(['ip', 'netns', 'exec', this.ns.name, 'socat', '-T2', '-', `TCP:${this.address}:2181`], { input: cmd, timeoutMs: 5000 });
    return r.stdout.trim();
  }
}
