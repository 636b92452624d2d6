import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Background } from '../lib/proc.js';
import { must, run, sleep, startBackground } from '../lib/proc.js';

/**
 * A cluster of simulated hosts on one machine: a hub namespace holding the underlay bridge and the
 * membership store (etcd or ZooKeeper) on 198.18.0.254, and N host namespaces joined to it by veth
 * pairs (host i at 198.18.1.i), each running `weft watch --store` under --host-netns with its own
 * manifests: the shared overlay networks plus its own Host and M containers (static addresses, so
 * no two hosts pick the same one). Everything is named with one random prefix, and cleanup()
 * removes all of it (processes by pid, namespaces, /etc/netns folders, the temp folder).
 */

/** Compiled to .bench/cluster/ or run from bench/cluster/ (vitest): the repository is two levels up. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const weftBin = () => path.join(repoRoot, 'dist/cli/main.js');

export type StoreKind = 'etcd' | 'zk';

export interface ClusterOptions {
  hosts: number;
  containers: number;
  networks: number;
  store: StoreKind;
  /** Lease TTL (etcd) or session timeout (ZooKeeper), seconds: what a SIGKILL costs. */
  ttl: number;
  /** The daemons' --resync. */
  resync: string;
  /** Daemons started at once. */
  startBatch: number;
  log: (msg: string) => void;
}

export const MAX_HOSTS = 200;
export const MAX_CONTAINERS = 50;
export const HUB_ADDRESS = '198.18.0.254';

export interface SimHost {
  index: number;
  node: string;
  ns: string;
  address: string;
  dir: string;
  manifests: string;
  stateDir: string;
  daemon?: Background | undefined;
}

export class Cluster {
  readonly hosts: SimHost[] = [];
  readonly hub: string;
  storeUrl = '';
  private store: Background | undefined;
  private storeArgv: string[] = [];

  private constructor(readonly opts: ClusterOptions, readonly prefix: string, readonly dir: string) {
    this.hub = `${prefix}hub`;
  }

  static async create(opts: ClusterOptions): Promise<Cluster> {
    if (process.getuid?.() !== 0) throw new Error('the cluster needs root (it creates network namespaces)');
    if (opts.hosts < 2 || opts.hosts > MAX_HOSTS) throw new Error(`hosts: 2..${MAX_HOSTS}`);
    if (opts.containers < 1 || opts.containers > MAX_CONTAINERS) throw new Error(`containers: 1..${MAX_CONTAINERS}`);
    if (opts.networks < 1 || opts.networks > 8) throw new Error('networks: 1..8');
    const prefix = `wc${randomBytes(2).toString('hex')}`;
    const dir = await mkdtemp(path.join(tmpdir(), `weft-cluster-${prefix}-`));
    return new Cluster(opts, prefix, dir);
  }

  /** The underlay, the store, the manifests and the host namespaces (no daemon yet). */
  async build(): Promise<void> {
    const o = this.opts;
    await this.netns(this.hub);
    await must(['ip', '-n', this.hub, 'link', 'add', 'sw0', 'type', 'bridge']);
    await must(['ip', '-n', this.hub, 'addr', 'add', `${HUB_ADDRESS}/16`, 'dev', 'sw0']);
    await must(['ip', '-n', this.hub, 'link', 'set', 'sw0', 'up']);
    await this.countStoreTraffic();
    await this.startStore();
    const common = path.join(this.dir, 'manifests', 'common');
    await mkdir(common, { recursive: true });
    await writeFile(path.join(common, 'networks.yaml'), networksYaml(o.networks));
    for (let i = 1; i <= o.hosts; i++) {
      const h: SimHost = {
        index: i,
        node: `node-${i}`,
        ns: `${this.prefix}h${i}`,
        address: `198.18.1.${i}`,
        dir: path.join(this.dir, `h${i}`),
        manifests: path.join(this.dir, 'manifests', `node-${i}`),
        stateDir: path.join(this.dir, `h${i}`, 'state'),
      };
      await this.netns(h.ns);
      await must(['ip', '-n', this.hub, 'link', 'add', `p${i}`, 'master', 'sw0', 'up', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', h.ns]);
      await must(['ip', '-n', h.ns, 'addr', 'add', `${h.address}/16`, 'dev', 'ul0']);
      await must(['ip', '-n', h.ns, 'link', 'set', 'ul0', 'up']);
      await mkdir(h.manifests, { recursive: true });
      const docs = Array.from({ length: o.containers }, (_, j) => containerYaml(containerName(i, j), h.node, j % o.networks, containerAddress(j % o.networks, i, j)));
      await writeFile(path.join(h.manifests, 'containers.yaml'), docs.join('---\n'));
      this.hosts.push(h);
    }
    // Every node declares every Host: the store is trusted only for endpoints of declared Hosts,
    // from the address each declares (docs/security.md, "The store").
    const hostDocs = this.hosts.map((h) => `apiVersion: weft/v1\nkind: Host\nmetadata: {name: ${h.node}}\nspec: {address: ${h.address}}\n`);
    await writeFile(path.join(common, 'hosts.yaml'), hostDocs.join('---\n'));
  }

  /** Starts every daemon, startBatch at a time, each batch waited for until ready. */
  async startAll(): Promise<void> {
    for (let k = 0; k < this.hosts.length; k += this.opts.startBatch) {
      const batch = this.hosts.slice(k, k + this.opts.startBatch);
      for (const h of batch) this.startDaemon(h);
      await Promise.all(batch.map((h) => this.waitReady(h, 300_000)));
      this.opts.log(`daemons ready: ${Math.min(k + this.opts.startBatch, this.hosts.length)}/${this.hosts.length}`);
    }
  }

  startDaemon(h: SimHost): void {
    h.daemon = startBackground([
      'node', weftBin(), '--host-netns', h.ns, '--state-dir', h.stateDir, '--node', h.node, '--log-format', 'json',
      '--store', `${this.storeUrl}?ttl=${this.opts.ttl}`, 'watch', '--resync', this.opts.resync,
      '-f', path.join(this.dir, 'manifests', 'common'), '-f', h.manifests,
    ]);
  }

  /** SIGTERM (a clean stop: the daemon withdraws from the store) or SIGKILL to a host's daemon, by pid. */
  async stopDaemon(h: SimHost, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const d = h.daemon;
    if (!d?.child.pid) return;
    h.daemon = undefined;
    if (signal === 'SIGKILL') {
      // The daemon runs inside the host namespace as a child of the outer process: kill both.
      const inner = await this.daemonPid(h);
      for (const pid of [inner, d.child.pid]) if (pid) tryKill(pid, 'SIGKILL');
    } else tryKill(d.child.pid, 'SIGTERM');
    const exited = new Promise<void>((resolve) => (d.child.exitCode !== null ? resolve() : d.child.on('close', () => resolve())));
    await Promise.race([exited, sleep(30_000)]);
    await d.stop();
  }

  /** The daemon's /status (from inside its namespace), or undefined while it does not answer. */
  async status(h: SimHost): Promise<DaemonStatusLite | undefined> {
    const r = await run(['ip', 'netns', 'exec', h.ns, 'curl', '-s', '-m', '5', 'http://127.0.0.1:9847/status'], { timeoutMs: 10_000 });
    try {
      return r.code === 0 ? (JSON.parse(r.stdout) as DaemonStatusLite) : undefined;
    } catch {
      return undefined;
    }
  }

  async daemonPid(h: SimHost): Promise<number | undefined> {
    return (await this.status(h))?.pid;
  }

  /** Ready, and it knows every other host's containers (from the store). */
  async waitReady(h: SimHost, timeoutMs: number, remote?: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(h);
      if (s?.ready && (remote === undefined || s.store?.remoteEndpoints === remote)) return;
      if (Date.now() > deadline) throw new Error(`${h.node} not ready within ${timeoutMs} ms: ${JSON.stringify(s)}\n${h.daemon?.output().slice(-2000) ?? ''}`);
      if (h.daemon && h.daemon.child.exitCode !== null) throw new Error(`${h.node}'s daemon exited: ${h.daemon.output().slice(-2000)}`);
      await sleep(500);
    }
  }

  /** Container j of host i's namespace name (weft names it <host netns>-<container>). */
  containerNetns(h: SimHost, container: string): string {
    return `${h.ns}-${container}`;
  }

  /** The VXLAN FDB entries ("self") on a host that point at `address`. */
  async fdbTo(h: SimHost, address: string): Promise<number> {
    const r = await run(['ip', 'netns', 'exec', h.ns, 'bridge', 'fdb', 'show'], { timeoutMs: 20_000 });
    return r.stdout.split('\n').filter((l) => l.includes(` dst ${address} `) && l.includes(' self')).length;
  }

  /** Bytes and packets to and from the store's port, counted by nftables in the hub. */
  async storeTraffic(): Promise<{ bytes: number; packets: number }> {
    const r = await run(['ip', 'netns', 'exec', this.hub, 'nft', '-j', 'list', 'table', 'inet', 'benchstore'], { timeoutMs: 10_000 });
    let bytes = 0;
    let packets = 0;
    try {
      for (const item of (JSON.parse(r.stdout) as { nftables: { rule?: { expr: { counter?: { bytes: number; packets: number } }[] } }[] }).nftables) {
        for (const e of item.rule?.expr ?? []) {
          if (!e.counter) continue;
          bytes += e.counter.bytes;
          packets += e.counter.packets;
        }
      }
    } catch {
      /* no table */
    }
    return { bytes, packets };
  }

  /** The store's own counters: requests served, watch events sent, keys held. */
  async storeCounters(): Promise<StoreCounters> {
    if (this.opts.store === 'etcd') {
      const r = await run(['ip', 'netns', 'exec', this.hub, 'curl', '-s', '-m', '5', `http://${HUB_ADDRESS}:2379/metrics`], { timeoutMs: 10_000 });
      const sum = (re: RegExp) => r.stdout.split('\n').filter((l) => re.test(l)).reduce((a, l) => a + Number(l.split(' ').pop()), 0);
      return {
        requests: sum(/^grpc_server_handled_total\{.*grpc_type="unary"/),
        watchEvents: sum(/^etcd_debugging_mvcc_events_total /),
        keys: sum(/^etcd_debugging_mvcc_keys_total /),
        dbBytes: sum(/^etcd_mvcc_db_total_size_in_use_in_bytes /),
      };
    }
    const r = await run(['ip', 'netns', 'exec', this.hub, 'socat', '-T2', '-', `TCP:${HUB_ADDRESS}:2181`], { input: 'mntr', timeoutMs: 10_000 });
    const v = (k: string) => Number(new RegExp(`^zk_${k}\\s+(\\S+)`, 'm').exec(r.stdout)?.[1] ?? 0);
    return { requests: v('packets_received'), watchEvents: v('packets_sent') - v('packets_received'), keys: v('znode_count'), dbBytes: v('approximate_data_size') };
  }

  async cleanup(): Promise<void> {
    for (const h of this.hosts) await h.daemon?.stop().catch(() => undefined);
    await this.store?.stop().catch(() => undefined);
    const mine = (n: string) => n.startsWith(this.prefix);
    const names = (await readdir('/run/netns').catch(() => [] as string[])).filter(mine);
    // Container namespaces first (their veths go with them), hosts and the hub last.
    for (const n of names.sort((a, b) => b.length - a.length)) await run(['ip', 'netns', 'del', n], { timeoutMs: 30_000 });
    for (const d of (await readdir('/etc/netns').catch(() => [] as string[])).filter(mine)) await rm(`/etc/netns/${d}`, { recursive: true, force: true });
    await rmdir('/etc/netns').catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  // ---- set-up ----

  private async netns(name: string): Promise<void> {
    await must(['ip', 'netns', 'add', name]);
    await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    await mkdir(`/etc/netns/${name}`, { recursive: true });
    await writeFile(`/etc/netns/${name}/resolv.conf`, 'nameserver 198.18.0.253\n');
  }

  private async countStoreTraffic(): Promise<void> {
    const port = this.opts.store === 'etcd' ? 2379 : 2181;
    await must(['ip', 'netns', 'exec', this.hub, 'nft', '-f', '-'], {
      input: `table inet benchstore {\n chain in {\n  type filter hook input priority 0;\n  tcp dport ${port} counter\n }\n chain out {\n  type filter hook output priority 0;\n  tcp sport ${port} counter\n }\n}\n`,
    });
  }

  private async startStore(): Promise<void> {
    const data = path.join(this.dir, 'store');
    await mkdir(data, { recursive: true });
    if (this.opts.store === 'etcd') {
      const client = `http://${HUB_ADDRESS}:2379`;
      this.storeArgv = [
        'ip', 'netns', 'exec', this.hub, 'etcd', '--name', 'weft-cluster', '--data-dir', data,
        '--listen-client-urls', client, '--advertise-client-urls', client,
        '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
        '--initial-cluster', 'weft-cluster=http://127.0.0.1:2380', '--log-level', 'error',
      ];
      this.storeUrl = `etcd://${HUB_ADDRESS}:2379`;
    } else {
      await writeFile(
        path.join(data, 'zoo.cfg'),
        `tickTime=500\ndataDir=${data}/data\nclientPort=2181\nclientPortAddress=${HUB_ADDRESS}\nminSessionTimeout=1000\nmaxSessionTimeout=120000\nmaxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,mntr\n`,
      );
      this.storeArgv = ['ip', 'netns', 'exec', this.hub, 'java', '-Xmx512m', '-cp', '/usr/share/java/zookeeper.jar', 'org.apache.zookeeper.server.ZooKeeperServerMain', path.join(data, 'zoo.cfg')];
      this.storeUrl = `zk://${HUB_ADDRESS}:2181`;
    }
    this.store = startBackground(this.storeArgv);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (await this.storeAnswers()) return;
      if (Date.now() > deadline || this.store.child.exitCode !== null) throw new Error(`the store did not start: ${this.store.output().slice(-2000)}`);
      await sleep(250);
    }
  }

  private async storeAnswers(): Promise<boolean> {
    if (this.opts.store === 'etcd') {
      const r = await run(['ip', 'netns', 'exec', this.hub, 'curl', '-s', '-m', '2', `http://${HUB_ADDRESS}:2379/health`], { timeoutMs: 5000 });
      return r.stdout.includes('"true"');
    }
    const r = await run(['ip', 'netns', 'exec', this.hub, 'socat', '-T2', '-', `TCP:${HUB_ADDRESS}:2181`], { input: 'ruok', timeoutMs: 5000 });
    return r.stdout.includes('imok');
  }
}

export interface StoreCounters {
  requests: number;
  watchEvents: number;
  keys: number;
  dbBytes: number;
}

export interface DaemonStatusLite {
  pid: number;
  ready: boolean;
  store?: { remoteEndpoints: number; connected: boolean; changes: number };
}

export function containerName(host: number, j: number): string {
  return `c${host}-${j}`;
}

/** Overlay network k is 10.(64+k).0.0/16; host i's container j has 10.(64+k).i.(j+2). */
export function containerAddress(network: number, host: number, j: number): string {
  return `10.${64 + network}.${host}.${j + 2}`;
}

export function networkName(k: number): string {
  return `ov${k}`;
}

export function networksYaml(n: number): string {
  return Array.from({ length: n }, (_, k) => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: ${networkName(k)}}\nspec:\n  driver: overlay\n  ipam: {config: [{subnet: 10.${64 + k}.0.0/16}]}\n`).join('---\n');
}

export function containerYaml(name: string, node: string, network: number, address: string): string {
  return `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${name}}\nspec:\n  host: ${node}\n  networks: {${networkName(network)}: {ipv4Address: ${address}}}\n`;
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/** CPU time (ms) and RSS (bytes) of one process, from /proc. */
export async function procUsage(pid: number): Promise<{ cpuMs: number; rss: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    return { cpuMs: (ticks * 1000) / 100, rss };
  } catch {
    return undefined;
  }
}
