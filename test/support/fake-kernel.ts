import { KernelError } from '../../src/errors.js';
import type {
  FdbOp,
  IpOp,
  KAddr,
  KFdb,
  KNeigh,
  KLink,
  KRoute,
  Kernel,
  KernelProgram,
  KernelStats,
  NsReadRequest,
  NsRef,
  NsSnapshot,
  NsWork,
  SysctlWrite,
  ReadBack,
} from '../../src/kernel/index.js';
import { nftTableKey, renderIpOp } from '../../src/kernel/index.js';
import { renderFdbOp } from '../../src/kernel/ip-render.js';
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
  /** info_data as `ip -d -j` shows it (vxlan, vlan, macvlan). */
  info?: Record<string, unknown>;
  /** For vlans and macvlans: the parent's ifindex (in the host namespace). */
  parentIndex?: number;
}

interface FakeNs {
  links: Map<string, FakeLink>;
  addrs: KAddr[];
  routes: (KRoute & { proto: number })[];
  sysctls: Map<string, string>;
  /** The namespace's nftables ruleset; tables by "family name". */
  nft: FakeRuleset;
  neigh: KNeigh[];
  fdb: KFdb[];
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
  /** weft's intents to create namespaces, as RealKernel keeps them in /run/weft/netns-intent. */
  readonly intents = new Set<string>();
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
      n = { links: new Map(), addrs: [], routes: [], sysctls: new Map(), nft: new FakeRuleset(), neigh: [], fdb: [] };
      n.links.set('lo', { ifindex: 1, name: 'lo', mtu: 65536, mac: '00:00:00:00:00:00', up: false, addrgenmode: 'eui64' });
      this.namespaces.set(name, n);
    }
    return n;
  }

  async netnsIntents(): Promise<Set<string>> {
    return new Set(this.intents);
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
      if (l.parentIndex !== undefined) k.linkIndex = l.parentIndex;
      if (l.info) k.info = { ...l.info };
      return k;
    });
    const sysctls: Record<string, string | null> = {};
    for (const p of r.sysctls) sysctls[p] = n.sysctls.get(p) ?? null;
    const nft: Record<string, unknown[] | null> = {};
    for (const t of r.nftTables ?? []) nft[nftTableKey(t)] = n.nft.list(nftTableKey(t));
    const snap: NsSnapshot = {
      links,
      addresses: n.addrs.map((a) => ({ ...a })),
      routes: n.routes.map(({ proto, ...r }) => ({ ...r, protocol: String(proto) })),
      sysctls,
      nft,
    };
    if (r.neighbours) snap.neighbours = n.neigh.map((x) => ({ ...x }));
    if (r.fdb) snap.fdb = n.fdb.filter((f) => n.links.get(f.dev)?.kind === 'vxlan').map((f) => ({ ...f }));
    return snap;
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
    for (const n of program.netnsAdd) this.intents.add(n);
    program.netnsAdd.forEach((n, i) => {
      try {
        this.write(`ip netns add ${n}`, () => {
          if (this.namespaces.has(n)) throw new Error(`Cannot create namespace file "/run/netns/${n}": File exists`);
          this.ensureNs(n);
        });
      } catch (err) {
        for (const m of program.netnsAdd.slice(i)) this.intents.delete(m);
        throw err;
      }
    });
    for (const w of program.early ?? []) this.runWork(w);
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
    for (const n of [...program.netnsAdd, ...program.containers.map((w) => this.keyOf(w.ns.path))]) this.intents.delete(n);
    return readBack;
  }

  private runWork(w: NsWork): void {
    const fdb = w.fdb ?? [];
    if (w.ip.length + fdb.length + w.sysctls.length + w.nft.length === 0) return;
    this.stats.processes++;
    const n = this.ns(this.keyOf(w.ns.path));
    const sysctl = (s: SysctlWrite) => this.write(`[${w.ns.key}] sysctl ${s.path}=${s.value}`, () => n.sysctls.set(s.path, s.value));
    w.sysctls.filter((s) => s.early).forEach(sysctl);
    for (const op of w.ip) this.write(`[${w.ns.key}] ip ${renderIpOp(op)}`, () => this.applyIp(n, op), op.what);
    for (const op of fdb) this.write(`[${w.ns.key}] bridge ${renderFdbOp(op)}`, () => this.applyFdb(n, op), op.what);
    w.sysctls.filter((s) => !s.early).forEach(sysctl);
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

  /** A new link, down, as `ip link add` leaves it. */
  private addLink(n: FakeNs, name: string, kind: string, mtu: number, mac: string, extra: Partial<FakeLink>): void {
    if (n.links.has(name)) throw new Error('RTNETLINK answers: File exists');
    n.links.set(name, { ifindex: this.nextIndex++, name, kind, mtu, mac, up: false, addrgenmode: 'eui64', ...extra });
  }

  private applyFdb(n: FakeNs, op: FdbOp): void {
    if (this.link(n, op.dev).kind !== 'vxlan') throw new Error('RTNETLINK answers: Operation not supported');
    const same = (f: KFdb) => f.dev === op.dev && f.mac === op.mac && f.dst === op.dst;
    if (op.op === 'fdb-append') {
      if (!n.fdb.some(same)) n.fdb.push({ dev: op.dev, mac: op.mac, dst: op.dst, flags: ['self'], state: 'permanent' });
      return;
    }
    if (!n.fdb.some(same)) throw new Error('RTNETLINK answers: No such file or directory');
    n.fdb = n.fdb.filter((f) => !same(f));
  }

  private deleteNs(name: string): void {
    this.intents.delete(name);
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
      case 'link-add-vxlan':
        this.addLink(n, op.name, 'vxlan', op.mtu, '02:00:00:00:00:03', {
          info: { id: op.vni, ...(op.local ? { local: op.local } : {}), port: op.dstport, learning: op.learning, proxy: op.proxy },
        });
        return;
      case 'link-add-vlan': {
        const parent = this.link(n, op.parent);
        this.addLink(n, op.name, 'vlan', parent.mtu, parent.mac, { info: { id: op.vlanId }, parentIndex: parent.ifindex });
        return;
      }
      case 'link-add-macvlan': {
        const parent = this.link(n, op.parent);
        const target = this.namespaces.get(op.netns);
        if (!target) throw new Error(`Invalid "netns" value "${op.netns}"`);
        if (op.mtu > parent.mtu) throw new Error('RTNETLINK answers: Invalid argument');
        this.addLink(target, op.name, 'macvlan', op.mtu, op.mac, { info: { mode: op.mode }, parentIndex: parent.ifindex });
        return;
      }
      case 'link-move': {
        const l = this.link(n, op.name);
        const target = this.namespaces.get(op.netns);
        if (!target) throw new Error(`Invalid "netns" value "${op.netns}"`);
        if (target.links.has(op.newName)) throw new Error('RTNETLINK answers: File exists');
        // A move drops the link's addresses and routes and leaves it down, as the kernel does.
        n.links.delete(op.name);
        n.addrs = n.addrs.filter((a) => a.dev !== op.name);
        n.routes = n.routes.filter((r) => r.dev !== op.name);
        l.name = op.newName;
        l.up = false;
        delete l.master;
        target.links.set(op.newName, l);
        if (l.peer) {
          const peer = this.namespaces.get(l.peer.ns)?.links.get(l.peer.name);
          if (peer) peer.peer = { ns: op.netns, name: op.newName };
        }
        return;
      }
      case 'neigh-replace':
        this.link(n, op.dev);
        // As the kernel: no IPv6 neighbour entry on a device with IPv6 turned off.
        if (op.address.includes(':') && n.sysctls.get(`net/ipv6/conf/${op.dev}/disable_ipv6`) === '1') throw new Error('Error: IPv6 is disabled on this device.');
        n.neigh = n.neigh.filter((x) => !(x.dev === op.dev && x.address === op.address));
        n.neigh.push({ dev: op.dev, address: op.address, lladdr: op.lladdr, state: ['PERMANENT'], protocol: String(op.proto) });
        return;
      case 'neigh-del': {
        const before = n.neigh.length;
        n.neigh = n.neigh.filter((x) => !(x.dev === op.dev && x.address === op.address));
        if (n.neigh.length === before) throw new Error('RTNETLINK answers: No such file or directory');
        return;
      }
      case 'link-del': {
        const l = this.link(n, op.name);
        n.links.delete(op.name);
        n.addrs = n.addrs.filter((a) => a.dev !== op.name);
        n.routes = n.routes.filter((r) => r.dev !== op.name);
        n.neigh = n.neigh.filter((x) => x.dev !== op.name);
        // Its per-interface settings go with it (a new link of that name starts from the defaults).
        for (const path of [...n.sysctls.keys()]) if (path.includes(`/conf/${op.name}/`)) n.sysctls.delete(path);
        n.fdb = n.fdb.filter((f) => f.dev !== op.name);
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
      case 'addr-add':
      case 'addr-replace': {
        this.link(n, op.dev);
        const [local = '', len = '0'] = op.cidr.split('/');
        const at = n.addrs.findIndex((a) => a.dev === op.dev && a.local === local);
        if (op.op === 'addr-add' && at >= 0) throw new Error('RTNETLINK answers: File exists');
        const addr: KAddr = { dev: op.dev, family: local.includes(':') ? 6 : 4, local, prefixlen: Number(len), scope: 'global', ...(op.nodad ? { nodad: true } : {}) };
        if (at >= 0) n.addrs[at] = addr;
        else n.addrs.push(addr);
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
