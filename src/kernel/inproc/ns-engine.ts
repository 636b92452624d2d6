import type { FSWatcher } from 'node:fs';
import { mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, watch, writeFileSync } from 'node:fs';
import { InternalError } from '../../errors.js';
import { renderFdbOp, renderIpOp } from '../ip-render.js';
import type { FdbOp, IpOp, NftTableRef, NsReadSpec, NsSnapshot, NsWork } from '../types.js';
import { nftTableKey, workWrites } from '../types.js';
import { checkIfName } from './addresses.js';
import * as libc from './libc.js';
import { NftContext } from './libnftables.js';
import type { JobError } from './protocol.js';
import { attr, ifaddrmsg, ifinfomsg, ndmsg, rtmsg } from './rtnl-codec.js';
import { AF, IFLA, NL } from './rtnl-constants.js';
import type { Resolve } from './rtnl-requests.js';
import { fdbRequest, ipRequest } from './rtnl-requests.js';
import { decodeAddresses, decodeFdb, decodeLinks, decodeNeighbours, decodeRoutes } from './rtnl-snapshot.js';
import { NetlinkError, RtnlSocket } from './rtnl-socket.js';

const NETNS_RUN_DIR = '/run/netns';

/** A namespace's open handles: kept while it lives, so the daemon reuses them. */
interface Handle {
  rtnl: RtnlSocket;
  nft?: NftContext;
}

/** A failed write, with what failed and the kernel's words: becomes a KernelError. */
export class WorkError extends Error {
  readonly job: JobError;
  constructor(job: JobError) {
    super(job.message);
    this.job = job;
  }
}

/**
 * Does namespace work synchronously on the thread that owns it (the worker): reads snapshots
 * through rtnetlink, libnftables and /proc/sys, writes typed operations, creates and deletes
 * namespaces. The only code that calls setns/unshare. Every entry into a namespace returns to the
 * thread's home namespace in a finally block, also when the work inside throws.
 */
export class NsEngine {
  private readonly homeFd: number;
  private readonly handles = new Map<string, Handle>();
  private home: Handle | undefined;
  private runDirReady = false;
  /** Which handle a /run/netns name had, so its removal by anyone closes it (see watchRunDir). */
  private readonly byName = new Map<string, string>();
  /** Handles of namespaces named by other paths (/proc/PID/ns/net): closed after each job. */
  private readonly transient: Handle[] = [];
  private watcher: FSWatcher | undefined;

  constructor() {
    this.homeFd = libc.openFile('/proc/thread-self/ns/net');
  }

  // ---- namespaces ----

  /** Names under /run/netns; handles of namespaces no longer there are closed. */
  listNetns(): string[] {
    let names: string[];
    try {
      names = readdirSync(NETNS_RUN_DIR).sort();
    } catch {
      names = [];
    }
    const live = new Set<string>();
    for (const n of names) {
      const k = keyOf(`${NETNS_RUN_DIR}/${n}`);
      if (k) live.add(k);
    }
    for (const k of [...this.handles.keys()]) if (!live.has(k)) this.drop(k);
    for (const [n, k] of [...this.byName]) if (!this.handles.has(k)) this.byName.delete(n);
    return names;
  }

  /** Creates named namespaces as `ip netns add` does, without a process. */
  addNetns(names: readonly string[]): number {
    this.prepareRunDir();
    let n = 0;
    for (const name of names) {
      checkNetnsName(name);
      const path = `${NETNS_RUN_DIR}/${name}`;
      const fd = this.tryCall(`creating namespace ${name}`, 'open', () => libc.openFile(path, libc.O_RDONLY | libc.O_CREAT | libc.O_EXCL | libc.O_CLOEXEC, 0));
      libc.closeFd(fd);
      try {
        this.tryCall(`creating namespace ${name}`, 'unshare', () => {
          try {
            libc.unshareNet();
            libc.mount('/proc/thread-self/ns/net', path, libc.MS_BIND);
            // A new namespace's socket costs nothing more while we are inside it.
            const k = keyOf(path);
            if (k) {
              this.handles.set(k, { rtnl: new RtnlSocket() });
              this.byName.set(name, k);
            }
          } finally {
            libc.setns(this.homeFd, 'home');
          }
        });
      } catch (e) {
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
        throw e;
      }
      n++;
    }
    this.watchRunDir();
    return n;
  }

  /** Deletes named namespaces as `ip netns del` does (the kernel destroys them when unused). */
  delNetns(names: readonly string[]): number {
    let n = 0;
    for (const name of names) {
      checkNetnsName(name);
      const path = `${NETNS_RUN_DIR}/${name}`;
      const k = keyOf(path);
      if (k) this.drop(k);
      this.byName.delete(name);
      this.tryCall(`deleting namespace ${name}`, 'umount2', () => {
        try {
          libc.umount(path, libc.MNT_DETACH);
        } catch (e) {
          // Not mounted (a half-made namespace): removing the file is enough.
          if (!(e instanceof libc.SyscallError && e.errno === libc.EINVAL)) throw e;
        }
        unlinkSync(path);
      });
      n++;
    }
    return n;
  }

  /** /run/netns as iproute2 makes it: a shared mount, so namespaces mounted there show in every mount namespace. */
  private prepareRunDir(): void {
    if (this.runDirReady) return;
    mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
    this.tryCall('preparing /run/netns', 'mount', () => {
      try {
        libc.mount('', NETNS_RUN_DIR, libc.MS_SHARED | libc.MS_REC);
      } catch (e) {
        if (!(e instanceof libc.SyscallError && e.errno === libc.EINVAL)) throw e;
        libc.mount(NETNS_RUN_DIR, NETNS_RUN_DIR, libc.MS_BIND | libc.MS_REC);
        libc.mount('', NETNS_RUN_DIR, libc.MS_SHARED | libc.MS_REC);
      }
    });
    this.runDirReady = true;
  }

  // ---- handles ----

  /** The handle of a namespace (null: the thread's home), or null when the namespace is gone. */
  private handle(path: string | null, needNft: boolean): Handle | null {
    if (path === null) {
      this.home ??= { rtnl: new RtnlSocket() };
      if (needNft) this.home.nft ??= new NftContext();
      return this.home;
    }
    const k = keyOf(path);
    if (!k) return null;
    const name = path.startsWith(`${NETNS_RUN_DIR}/`) ? path.slice(NETNS_RUN_DIR.length + 1) : undefined;
    let h = name !== undefined ? this.handles.get(k) : undefined;
    if (h && (!needNft || h.nft)) return h;
    const made = this.inside(path, () => {
      const out = h ?? { rtnl: new RtnlSocket() };
      if (needNft) out.nft ??= new NftContext();
      return out;
    });
    if (made === null) return null;
    h = made;
    if (name === undefined) {
      this.transient.push(h);
      return h;
    }
    this.handles.set(k, h);
    this.byName.set(name, k);
    this.watchRunDir();
    return h;
  }

  /**
   * An open socket or nftables context keeps its namespace alive: a namespace deleted by another
   * process (ip netns del, another weft) would never be destroyed, nor its veths, while this
   * process lives. So the removal of a name under /run/netns closes that namespace's handles.
   */
  private watchRunDir(): void {
    if (this.watcher) return;
    try {
      this.watcher = watch(NETNS_RUN_DIR, (_event, file) => {
        if (typeof file !== 'string') return;
        const k = this.byName.get(file);
        if (k === undefined || keyOf(`${NETNS_RUN_DIR}/${file}`) === k) return;
        this.byName.delete(file);
        this.drop(k);
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      /* no /run/netns yet: nothing there to watch */
    }
  }

  private drop(k: string): void {
    const h = this.handles.get(k);
    if (!h) return;
    this.handles.delete(k);
    h.rtnl.close();
    h.nft?.free();
  }

  /**
   * Runs `fn` with this thread inside the namespace at `path`, and always comes back. Null when
   * the namespace does not exist (the path is missing or not a namespace).
   */
  private inside<T>(path: string | null, fn: () => T): T | null {
    if (path === null) return fn();
    let fd: number;
    try {
      fd = libc.openFile(path);
    } catch (e) {
      if (e instanceof libc.SyscallError && e.errno === libc.ENOENT) return null;
      throw e;
    }
    try {
      try {
        libc.setns(fd, path);
      } catch (e) {
        if (e instanceof libc.SyscallError && e.errno === libc.EINVAL) return null;
        throw e;
      }
      try {
        return fn();
      } finally {
        libc.setns(this.homeFd, 'home');
      }
    } finally {
      libc.closeFd(fd);
    }
  }

  // ---- reading ----

  /** Reads a namespace; null when it does not exist. */
  read(path: string | null, spec: NsReadSpec): NsSnapshot | null {
    const tables = spec.nftTables ?? [];
    const h = this.handle(path, tables.length > 0);
    if (!h) return null;
    const links = decodeLinks(h.rtnl.dump(NL.RTM_GETLINK, ifinfomsg()));
    const addrs = decodeAddresses(h.rtnl.dump(NL.RTM_GETADDR, ifaddrmsg({ family: 0, prefixlen: 0, index: 0 })), links);
    const routes = decodeRoutes([...h.rtnl.dump(NL.RTM_GETROUTE, rtmsg({ family: AF.AF_INET })), ...h.rtnl.dump(NL.RTM_GETROUTE, rtmsg({ family: AF.AF_INET6 }))], links);
    const snap: NsSnapshot = { links, addresses: addrs, routes, sysctls: {}, nft: {} };
    if (spec.neighbours) snap.neighbours = decodeNeighbours(h.rtnl.dump(NL.RTM_GETNEIGH, ndmsg({ family: AF.AF_UNSPEC })), links);
    if (spec.fdb) snap.fdb = links.some((l) => l.kind === 'vxlan') ? decodeFdb(h.rtnl.dump(NL.RTM_GETNEIGH, ndmsg({ family: AF.AF_BRIDGE })), links) : [];
    if (spec.sysctls.length > 0) {
      const values = this.inside(path, () => spec.sysctls.map((p) => readSysctl(p)));
      if (values === null) return null;
      spec.sysctls.forEach((p, i) => (snap.sysctls[p] = values[i] ?? null));
    }
    for (const t of tables) snap.nft[nftTableKey(t)] = listTable(h.nft!, t);
    return snap;
  }

  /** Link names of a namespace (null when it is gone). */
  linkNames(path: string | null): string[] | null {
    const h = this.handle(path, false);
    return h ? decodeLinks(h.rtnl.dump(NL.RTM_GETLINK, ifinfomsg())).map((l) => l.name) : null;
  }

  // ---- writing ----

  /**
   * Writes one namespace's work: ip operations, forwarding entries, sysctls, then nftables in
   * one transaction; stops at the first failure (WorkError). Returns the read-back snapshot when
   * `w.readBack` asks for one.
   */
  write(w: NsWork): NsSnapshot | null {
    if (workWrites(w) === 0 && !w.readBack) return null;
    const key = w.ns.key;
    const h = this.handle(w.ns.path, w.nft.length > 0);
    if (!h) throw new WorkError({ message: `writing namespace ${key}`, command: `setns ${w.ns.path ?? ''}`, stderr: 'No such namespace' });
    const resolve = this.resolver(h);
    for (const { op, alias } of withBirthTags(w.ip)) {
      this.apply(key, op, () => h.rtnl.request(ipRequest(op, resolve, alias)));
      resolve.forget(op);
    }
    for (const op of w.fdb ?? []) this.applyFdb(key, op, () => h.rtnl.request(fdbRequest(op, resolve)));
    if (w.sysctls.length > 0) {
      const done = this.inside(w.ns.path, () => {
        for (const s of w.sysctls) {
          const file = sysctlFile(s.path);
          try {
            writeFileSync(file, s.value);
          } catch (e) {
            throw new WorkError({ message: `writing sysctl ${s.path} in namespace ${key}`, command: `write ${file}`, stderr: errText(e) });
          }
        }
        return true;
      });
      if (done === null) throw new WorkError({ message: `writing namespace ${key}`, command: `setns ${w.ns.path ?? ''}`, stderr: 'No such namespace' });
    }
    if (w.nft.length > 0) {
      const res = h.nft!.run(JSON.stringify({ nftables: w.nft }));
      if (!res.ok) throw new WorkError({ message: `loading nftables rules in namespace ${key}`, command: 'libnftables (nft -j -f)', stderr: res.error });
    }
    return w.readBack ? this.read(w.ns.path, w.readBack) : null;
  }

  // Errors name the operation as the equivalent ip/bridge command line (what a user would type to
  // retry it), with the kernel's answer worded as iproute2 words it.
  private apply(ns: string, op: IpOp, send: () => unknown): void {
    try {
      send();
    } catch (e) {
      throw new WorkError({ internal: e instanceof InternalError, message: `${op.what} in namespace ${ns}`, command: `ip ${safeRender(() => renderIpOp(op))}`, stderr: errText(e) });
    }
  }

  private applyFdb(ns: string, op: FdbOp, send: () => unknown): void {
    try {
      send();
    } catch (e) {
      throw new WorkError({ internal: e instanceof InternalError, message: `${op.what} in namespace ${ns}`, command: `bridge ${safeRender(() => renderFdbOp(op))}`, stderr: errText(e) });
    }
  }

  /** Names to ifindexes in a namespace (asked of the kernel, remembered until the link is deleted). */
  private resolver(h: Handle): Resolve & { forget(op: IpOp): void } {
    const known = new Map<string, number>();
    return {
      ifindex: (name) => {
        const hit = known.get(name);
        if (hit !== undefined) return hit;
        let replies;
        try {
          replies = h.rtnl.request({ type: NL.RTM_GETLINK, flags: 0, fixed: ifinfomsg(), attrs: [attr.str(IFLA.IFLA_IFNAME, checkIfName(name, 'looking up a link'))] });
        } catch (e) {
          if (e instanceof NetlinkError) throw new NetlinkError(e.errno, `Cannot find device "${name}"`);
          throw e;
        }
        const index = replies[0]?.body.readInt32LE(4);
        if (index === undefined) throw new NetlinkError(19, `Cannot find device "${name}"`);
        known.set(name, index);
        return index;
      },
      netnsFd: (netns) => {
        const path = /^\d+$/.test(netns) ? `/proc/${netns}/ns/net` : `${NETNS_RUN_DIR}/${checkNetnsName(netns)}`;
        // Closed when the worker's job ends (see closeLater); the request needs it open until acked.
        const fd = libc.openFile(path);
        this.pendingFds.push(fd);
        return fd;
      },
      forget: (op) => {
        if (op.op === 'link-del' || op.op === 'link-move') known.delete(op.name);
      },
    };
  }

  private readonly pendingFds: number[] = [];

  /** Closes descriptors opened for requests (namespaces named by IFLA_NET_NS_FD). */
  closePending(): void {
    for (const fd of this.pendingFds.splice(0)) libc.closeFd(fd);
    for (const h of this.transient.splice(0)) {
      h.rtnl.close();
      h.nft?.free();
    }
  }

  private tryCall<T>(message: string, command: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw new WorkError({ message, command, stderr: errText(e) });
    }
  }
}

/**
 * Tag at birth: a link created and then tagged by the next operation (providers render the two
 * apart) gets its alias in the creating RTM_NEWLINK already, so no crash between the two can
 * leave an untagged weft link. The tagging operation still runs (it also sets the link up). Pure.
 */
export function withBirthTags(ops: readonly IpOp[]): { op: IpOp; alias?: string }[] {
  return ops.map((op, i) => {
    const next = ops[i + 1];
    const creates = op.op === 'link-add-bridge' || op.op === 'link-add-veth' || op.op === 'link-add-vxlan' || op.op === 'link-add-vlan';
    return creates && next?.op === 'link-set' && next.name === op.name && next.alias !== undefined ? { op, alias: next.alias } : { op };
  });
}

function safeRender(f: () => string): string {
  try {
    return f();
  } catch {
    return '(unrenderable operation)';
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The nsfs identity of a namespace file: device and inode; undefined when it is missing. */
function keyOf(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** A name under /run/netns: one path component. */
function checkNetnsName(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || Buffer.byteLength(name) > 255) {
    throw new InternalError(`${JSON.stringify(name)} is not a valid namespace name`);
  }
  return name;
}

/** The /proc/sys file of a sysctl path ("net/ipv4/ip_forward"); refuses anything leaving /proc/sys. */
function sysctlFile(p: string): string {
  if (p === '' || p.startsWith('/') || p.split('/').some((s) => s === '' || s === '.' || s === '..') || p.includes('\0')) {
    throw new InternalError(`${JSON.stringify(p)} is not a sysctl path`);
  }
  return `/proc/sys/${p}`;
}

/** A sysctl's value (whole, trimmed), or null when it does not exist or cannot be read. */
function readSysctl(p: string): string | null {
  try {
    return readFileSync(sysctlFile(p), 'utf8').trim();
  } catch (e) {
    if (e instanceof InternalError) throw e;
    return null;
  }
}

/** `nft -j list table` through libnftables, without metainfo; null when the table does not exist. */
function listTable(nft: NftContext, t: NftTableRef): unknown[] | null {
  const res = nft.run(JSON.stringify({ nftables: [{ list: { table: { family: t.family, name: t.name } } }] }));
  if (!res.ok || res.output.trim() === '') return null;
  const doc = JSON.parse(res.output) as { nftables?: Record<string, unknown>[] };
  return (doc.nftables ?? []).filter((o) => !('metainfo' in o));
}
