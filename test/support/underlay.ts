import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RunResult } from './netns.js';
import { TestHost, eventually, must, run, weftBin } from './netns.js';

/**
 * Simulated machines for multi-host tests: an underlay "switch" (a bridge in a namespace of its
 * own, which also plays the outside world at .254) and hosts joined to it by veth pairs, each a
 * TestHost with its underlay address on ul0. Everything lives in throwaway namespaces.
 */
export class Underlay {
  readonly hosts: TestHost[] = [];

  private constructor(readonly sw: TestHost, readonly prefix24: string) {}

  static async create(prefix24 = '192.168.77'): Promise<Underlay> {
    const sw = await TestHost.create('mh');
    await must(['ip', '-n', sw.name, 'link', 'add', 'sw0', 'type', 'bridge']);
    await must(['ip', '-n', sw.name, 'addr', 'add', `${prefix24}.254/24`, 'dev', 'sw0']);
    await must(['ip', '-n', sw.name, 'link', 'set', 'sw0', 'up']);
    return new Underlay(sw, prefix24);
  }

  /** The outside world's address on the underlay. */
  get outside(): string {
    return `${this.prefix24}.254`;
  }

  /** Adds host number i (address <prefix>.i) to the switch. */
  async addHost(i: number): Promise<TestHost> {
    const h = await TestHost.create('mh');
    await must(['ip', '-n', this.sw.name, 'link', 'add', `p${i}`, 'master', 'sw0', 'up', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', h.name]);
    await must(['ip', '-n', h.name, 'addr', 'add', `${this.prefix24}.${i}/24`, 'dev', 'ul0']);
    await must(['ip', '-n', h.name, 'link', 'set', 'ul0', 'up']);
    this.hosts.push(h);
    return h;
  }

  /** Starts etcd in the switch namespace on <prefix>.254:2379; returns the --store URL. */
  async startEtcd(ttl: number): Promise<string> {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'weft-mh-etcd-'));
    this.cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const client = `http://${this.outside}:2379`;
    this.etcdArgv = [
      'ip', 'netns', 'exec', this.sw.name, 'etcd', '--name', 'weft-test', '--data-dir', dataDir,
      '--listen-client-urls', `${client},http://127.0.0.1:2379`, '--advertise-client-urls', client,
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'weft-test=http://127.0.0.1:2380', '--log-level', 'error',
    ];
    await this.runEtcd();
    return `etcd://${this.outside}:2379?ttl=${ttl}`;
  }

  /** Stops etcd (SIGTERM), as an outage of the store would; its data stays for restartEtcd(). */
  async stopEtcd(): Promise<void> {
    const etcd = this.etcd;
    if (!etcd) return;
    this.etcd = undefined;
    process.kill(etcd.pid, 'SIGTERM');
    await etcd.exited;
  }

  /** Starts the stopped etcd again with the same data. */
  async restartEtcd(): Promise<void> {
    if (!this.etcd) await this.runEtcd();
  }

  private etcdArgv: string[] = [];
  private etcd: { pid: number; exited: Promise<number> } | undefined;

  private async runEtcd(): Promise<void> {
    this.etcd = this.sw.spawn(this.etcdArgv);
    const probe = `fetch('http://${this.outside}:2379/health').then(async (r) => process.exit((await r.text()).includes('"true"') ? 0 : 1), () => process.exit(1))`;
    await eventually(async () => (await run(['ip', 'netns', 'exec', this.sw.name, 'node', '-e', probe])).code === 0, 20_000, 200);
  }

  private readonly cleanups: (() => Promise<unknown>)[] = [];

  /** Runs fn at cleanup() (before the namespaces go): for servers a test starts in them. */
  onCleanup(fn: () => Promise<unknown>): void {
    this.cleanups.unshift(fn);
  }

  async cleanup(): Promise<void> {
    for (const h of this.hosts) await h.cleanup();
    await this.sw.cleanup();
    for (const c of this.cleanups) await c();
  }
}

/**
 * Runs weft inside a host's network namespace (as weft would run on that machine), so it reaches
 * the store over the underlay. nsenter --net, not `ip netns exec`: the latter runs in a mount
 * namespace of its own, where the namespaces weft creates would not outlive the command.
 */
export function weftOn(host: TestHost, args: readonly string[]): Promise<RunResult> {
  return run(['nsenter', `--net=/run/netns/${host.name}`, 'node', weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, ...args]);
}

/** A container's address and MAC on a network, from `weft network inspect` on the host that runs it. */
export async function endpointOn(host: TestHost, network: string, name: string): Promise<{ ip: string; mac: string }> {
  const r = await host.weft(['network', 'inspect', network]);
  const [net] = JSON.parse(r.stdout) as { Containers: Record<string, { Name: string; IPv4Address: string; MacAddress: string }> }[];
  const c = Object.values(net?.Containers ?? {}).find((x) => x.Name === name);
  if (!c) throw new Error(`${name} is not on ${network} on ${host.name}: ${r.stdout}${r.stderr}`);
  return { ip: c.IPv4Address.replace(/\/\d+$/, ''), mac: c.MacAddress };
}
