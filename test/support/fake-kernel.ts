import { KernelError } from '../../src/errors.js';
import type {
  IpOp,
  KAddr,
  KLink,
  KRoute,
  Kernel,
  KernelProgram,
  KernelStats,
  NsReadRequest,
  NsRef,
  NsSnapshot,
  NsWork,
  ReadBack,
} from '../../src/kernel/index.js';
import { nftTableKey, renderIpOp } from '../../src/kernel/index.js';
import { FakeRuleset } from './fake-nft.js';

/**
 * An in-memory kernel for unit tests: applies the same typed operations the real kernel renders
 * into `ip -batch` lines, with the kernel's own errors for the cases weft must handle (a link that
 * exists, a missing device). Needs no privileges.
 */

interface FakeLink {
  ifindex: number;
  name: string;
  kind?: string;
  alias?: string;
  mtu: number;
  mac: string;
  up: boolean;
  master?: string;
  addrgenmode: string;
  /** Bridge port hairpin mode. */
  hairpin?: boolean;
  /** For veths: the peer's namespace and name. */
  peer?: { ns: string; name: string };
}

interface FakeNs {
  links: Map<string, FakeLink>;
  addrs: KAddr[];
  routes: (KRoute & { proto: number })[];
  sysctls: Map<string, string>;
  /** The namespace's nftables ruleset; tables by "family name". */
  nft: FakeRuleset;
}

export const ROOT = '(root)';

export class FakeKernel implements Kernel {
  readonly stats: KernelStats = { processes: 0, writes: 0 };
  readonly namespaces = new Map<string, FakeNs>();
  readonly files = new Map<string, string>();
  /** Every write, rendered as the real kernel would run it: tests assert on it. */
  readonly log: string[] = [];
  /** Makes the next write whose rendering matches fail with this kernel message. */
  failOn: { match: RegExp; message: string } | undefined;
  private nextIndex = 100;

  constructor(hostNetns = '') {
    this.ensureNs(hostNetns ? hostNetns : ROOT);
  }

  /** The namespace key behind a path: null is the root, /run/netns/X is X. */
  keyOf(path: string | null): string {
    if (path === null) return ROOT;
    const m = /^\/run\/netns\/(.+)$/.exec(path);
    return m?.[1] ?? path;
  }

  ns(name: string): FakeNs {
    const n = this.namespaces.get(name);
    if (!n) throw new Error(`fake kernel: no namespace ${name}`);
    return n;
  }

  ensureNs(name: string): FakeNs {
    let n = this.namespaces.get(name);
    if (!n) {
      n = { links: new Map(), addrs: [], routes: [], sysctls: new Map(), nft: new FakeRuleset() };
      n.links.set('lo', { ifindex: 1, name: 'lo', mtu: 65536, mac: '00:00:00:00:00:00', up: false, addrgenmode: 'eui64' });
      this.namespaces.set(name, n);
    }
    return n;
  }

  async listNetns(): Promise<string[]> {
    return [...this.namespaces.keys()].filter((n) => n !== ROOT).sort();
  }

  async readNamespaces(reqs: readonly NsReadRequest[]): Promise<Map<string, NsSnapshot | null>> {
    const out = new Map<string, NsSnapshot | null>();
    for (const r of reqs) {
      this.stats.processes++;
      const n = this.namespaces.get(this.keyOf(r.ns.path));
      out.set(r.ns.key, n ? this.snapshot(n, r) : null);
    }
    return out;
  }

  private snapshot(n: FakeNs, r: NsReadRequest): NsSnapshot {
    const links: KLink[] = [...n.links.values()].map((l) => {
      const k: KLink = { ifindex: l.ifindex, name: l.name, mtu: l.mtu, mac: l.mac, up: l.up, addrgenmode: l.addrgenmode };
      if (l.kind) k.kind = l.kind;
      if (l.alias) k.alias = l.alias;
      if (l.master) {
        k.master = l.master;
        k.slaveInfo = { hairpin: l.hairpin === true };
      }
      if (l.peer) {
        const peer = this.namespaces.get(l.peer.ns)?.links.get(l.peer.name);
        if (peer) {
          k.linkIndex = peer.ifindex;
          k.linkNetnsId = 0;
        }
      }
      return k;
    });
    const sysctls: Record<string, string | null> = {};
    for (const p of r.sysctls) sysctls[p] = n.sysctls.get(p) ?? null;
    const nft: Record<string, unknown[] | null> = {};
    for (const t of r.nftTables ?? []) nft[nftTableKey(t)] = n.nft.list(nftTableKey(t));
    return {
      links,
      addresses: n.addrs.map((a) => ({ ...a })),
      routes: n.routes.map(({ proto, ...r }) => ({ ...r, protocol: String(proto) })),
      sysctls,
      nft,
    };
  }

  async readFiles(paths: readonly string[]): Promise<Map<string, string | null>> {
    return new Map(paths.map((p) => [p, this.files.get(p) ?? null]));
  }

  async listDir(dir: string): Promise<string[]> {
    const prefix = `${dir}/`;
    const names = new Set<string>();
    for (const p of this.files.keys()) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split('/')[0] ?? '');
    return [...names].filter(Boolean).sort();
  }

  async run(program: KernelProgram, progress?: (done: number, total: number) => void): Promise<ReadBack | void> {
    // As the real kernel: one `ip -batch` process for all namespace deletions, one for additions.
    if (program.netnsDelete.length > 0) this.stats.processes++;
    if (program.netnsAdd.length > 0) this.stats.processes++;
    for (const n of program.netnsDelete) this.write(`ip netns del ${n}`, () => this.deleteNs(n));
    for (const n of program.netnsAdd) {
      this.write(`ip netns add ${n}`, () => {
        if (this.namespaces.has(n)) throw new Error(`Cannot create namespace file "/run/netns/${n}": File exists`);
        this.ensureNs(n);
      });
    }
    this.runWork(program.host);
    const readBack: ReadBack = new Map();
    program.containers.forEach((w, i) => {
      this.runWork(w);
      // As the real kernel: the process that wrote the namespace reads it back.
      const n = this.namespaces.get(this.keyOf(w.ns.path));
      if (w.readBack && n) readBack.set(w.ns.key, this.snapshot(n, { ns: w.ns, ...w.readBack }));
      progress?.(i + 1, program.containers.length);
    });
    for (const f of program.files.write) this.write(`write ${f.path}`, () => this.files.set(f.path, f.content));
    for (const p of program.files.remove) this.write(`rm ${p}`, () => this.files.delete(p));
    return readBack;
  }

  private runWork(w: NsWork): void {
    if (w.ip.length + w.sysctls.length + w.nft.length === 0) return;
    this.stats.processes++;
    const n = this.ns(this.keyOf(w.ns.path));
    for (const op of w.ip) this.write(`[${w.ns.key}] ip ${renderIpOp(op)}`, () => this.applyIp(n, op), op.what);
    for (const s of w.sysctls) this.write(`[${w.ns.key}] sysctl ${s.path}=${s.value}`, () => n.sysctls.set(s.path, s.value));
    if (w.nft.length > 0) this.write(`[${w.ns.key}] nft ${w.nft.length} commands`, () => n.nft.apply(w.nft));
  }

  private write(line: string, fn: () => void, what = line): void {
    this.stats.writes++;
    this.log.push(line);
    if (this.failOn?.match.test(line)) {
      const message = this.failOn.message;
      this.failOn = undefined;
      throw new KernelError(what, line, message);
    }
    try {
      fn();
    } catch (err) {
      throw new KernelError(what, line, (err as Error).message);
    }
  }

  private deleteNs(name: string): void {
    const n = this.ns(name);
    for (const l of n.links.values()) if (l.peer) this.namespaces.get(l.peer.ns)?.links.delete(l.peer.name);
    this.namespaces.delete(name);
  }

  private link(n: FakeNs, name: string): FakeLink {
    const l = n.links.get(name);
    if (!l) throw new Error(`Cannot find device "${name}"`);
    return l;
  }

  private applyIp(n: FakeNs, op: IpOp): void {
    switch (op.op) {
      case 'link-add-bridge':
        if (n.links.has(op.name)) throw new Error('RTNETLINK answers: File exists');
        n.links.set(op.name, { ifindex: this.nextIndex++, name: op.name, kind: 'bridge', mtu: op.mtu, mac: '02:00:00:00:00:01', up: false, addrgenmode: 'eui64' });
        return;
      case 'link-add-veth': {
        if (n.links.has(op.name)) throw new Error('RTNETLINK answers: File exists');
        const peerNsName = [...this.namespaces.keys()].find((k) => k === op.peer.netns);
        if (!peerNsName) throw new Error(`Invalid "netns" value "${op.peer.netns}"`);
        const peerNs = this.ns(peerNsName);
        if (peerNs.links.has(op.peer.name)) throw new Error('RTNETLINK answers: File exists');
        if (op.master) this.link(n, op.master);
        const hostKey = [...this.namespaces.entries()].find(([, v]) => v === n)?.[0] ?? ROOT;
        n.links.set(op.name, {
          ifindex: this.nextIndex++,
          name: op.name,
          kind: 'veth',
          mtu: op.mtu,
          mac: '02:00:00:00:00:02',
          up: false,
          addrgenmode: 'eui64',
          peer: { ns: peerNsName, name: op.peer.name },
          ...(op.master ? { master: op.master } : {}),
        });
        peerNs.links.set(op.peer.name, {
          ifindex: this.nextIndex++,
          name: op.peer.name,
          kind: 'veth',
          mtu: op.peer.mtu,
          mac: op.peer.mac,
          up: false,
          addrgenmode: 'eui64',
          peer: { ns: hostKey, name: op.name },
        });
        return;
      }
      case 'link-set': {
        const l = this.link(n, op.name);
        if (op.mtu !== undefined) l.mtu = op.mtu;
        if (op.mac !== undefined) l.mac = op.mac;
        if (op.alias !== undefined) l.alias = op.alias;
        if (op.addrgenmode !== undefined) l.addrgenmode = op.addrgenmode;
        if (op.up !== undefined) l.up = op.up;
        if (op.hairpin !== undefined) {
          if (!l.master) throw new Error('Error: bridge_slave: the device is not a bridge port');
          l.hairpin = op.hairpin;
        }
        if (op.master === null) delete l.master;
        else if (op.master !== undefined) {
          this.link(n, op.master);
          l.master = op.master;
        }
        return;
      }
      case 'link-del': {
        const l = this.link(n, op.name);
        n.links.delete(op.name);
        n.addrs = n.addrs.filter((a) => a.dev !== op.name);
        n.routes = n.routes.filter((r) => r.dev !== op.name);
        if (l.peer) {
          const pn = this.namespaces.get(l.peer.ns);
          if (pn) {
            pn.links.delete(l.peer.name);
            pn.addrs = pn.addrs.filter((a) => a.dev !== l.peer?.name);
            pn.routes = pn.routes.filter((r) => r.dev !== l.peer?.name);
          }
        }
        for (const other of n.links.values()) if (other.master === op.name) delete other.master;
        return;
      }
      case 'addr-add': {
        this.link(n, op.dev);
        const [local = '', len = '0'] = op.cidr.split('/');
        if (n.addrs.some((a) => a.dev === op.dev && a.local === local)) throw new Error('RTNETLINK answers: File exists');
        n.addrs.push({ dev: op.dev, family: local.includes(':') ? 6 : 4, local, prefixlen: Number(len), scope: 'global' });
        return;
      }
      case 'addr-del': {
        const [local = ''] = op.cidr.split('/');
        const before = n.addrs.length;
        n.addrs = n.addrs.filter((a) => !(a.dev === op.dev && a.local === local));
        if (n.addrs.length === before) throw new Error('RTNETLINK answers: Cannot assign requested address');
        return;
      }
      case 'route-replace': {
        const dev = this.link(n, op.dev);
        if (op.via && !dev.up) throw new Error('RTNETLINK answers: Network is unreachable');
        n.routes = n.routes.filter((r) => !(r.dst === op.dst && r.family === op.family));
        n.routes.push({ family: op.family, dst: op.dst, dev: op.dev, protocol: String(op.proto), proto: op.proto, table: 'main', type: 'unicast', ...(op.via ? { gateway: op.via } : {}) });
        return;
      }
      case 'route-del': {
        const before = n.routes.length;
        n.routes = n.routes.filter((r) => !(r.dst === op.dst && r.family === op.family));
        if (n.routes.length === before) throw new Error('RTNETLINK answers: No such process');
        return;
      }
    }
  }

  /** Test helper: tamper with the kernel as an operator would (out-of-band changes). */
  tamper(fn: (k: FakeKernel) => void): void {
    fn(this);
  }
}

export function nsRef(key: string, path: string | null): NsRef {
  return { key, path };
}
