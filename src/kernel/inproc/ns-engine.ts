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
import { NetlinkListener } from './nl-listener.js';
import { attr, cString, ifaddrmsg, ifinfomsg, ndmsg, parseAttrs, rtmsg, s32 } from './rtnl-codec.js';
import { AF, IFLA, MON, NL } from './rtnl-constants.js';
import type { Resolve } from './rtnl-requests.js';
import { fdbRequest, ipRequests } from './rtnl-requests.js';
import { decodeAddresses, decodeFdb, decodeLinks, decodeNeighbours, decodeRoutes } from './rtnl-snapshot.js';
import { NetlinkError, RtnlSocket } from './rtnl-socket.js';

const NETNS_RUN_DIR = '/run/netns';
/**
 * libnftables contexts kept at most (least recently used go first): each holds a socket that
 * libnftables waits on with select(2), which cannot take a descriptor >= 1024.
 */
const NFT_CONTEXTS_MAX = 256;

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
  /** Named namespaces' handles that hold an nftables context, least recently used first. */
  private readonly nftUse = new Map<string, Handle>();
  /** When listNetns last compared every held namespace's identity with its name's. */
  private lastFullCheck = 0;

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
    // A name removed closes its handles here. A name replaced (deleted and made again) is caught
    // by the watcher; comparing every name's identity (a stat each: 8 ms at 1000 namespaces) is
    // done at most every FULL_CHECK_MS, for a watch event missed.
    const present = new Set(names);
    const full = Date.now() - this.lastFullCheck >= FULL_CHECK_MS;
    if (full) this.lastFullCheck = Date.now();
    const live = new Set<string>();
    for (const [n, k] of this.byName) {
      if (present.has(n) && (!full || keyOf(`${NETNS_RUN_DIR}/${n}`) === k)) live.add(k);
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
    if (h && needNft && h.nft) this.usedNft(k, h);
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
    if (h.nft) this.usedNft(k, h);
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

  /** Marks a handle's nftables context as just used; frees the least recently used beyond the cap. */
  private usedNft(k: string, h: Handle): void {
    this.nftUse.delete(k);
    this.nftUse.set(k, h);
    for (const [old, oh] of this.nftUse) {
      if (this.nftUse.size <= NFT_CONTEXTS_MAX) break;
      this.nftUse.delete(old);
      oh.nft?.free();
      delete oh.nft;
    }
  }

  private drop(k: string): void {
    const h = this.handles.get(k);
    if (!h) return;
    this.handles.delete(k);
    this.nftUse.delete(k);
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

  // ---- sockets for the embedded DNS (issue 12 item 7) ----

  private fdLimitRaised = false;

  /**
   * A UDP socket and a listening TCP socket bound to address:port inside the namespace at `path`
   * (descriptors for the main thread to hand to Node; they keep the namespace's identity, `key`,
   * so the caller can close them when that name is removed or points elsewhere). Null when the
   * namespace does not exist. The first call raises the descriptor limit: two per container.
   */
  openSockets(path: string, address: string, port: number): { udp: number; tcp: number; key: string } | null {
    if (!this.fdLimitRaised) {
      libc.raiseOpenFileLimit();
      this.fdLimitRaised = true;
    }
    const key = keyOf(path);
    if (key === undefined) return null;
    // A failure (the loopback still down, the port taken) is the caller's to retry.
    return this.tryCall(`opening DNS sockets in ${path}`, `bind ${address}:${port}`, () =>
      this.inside(path, () => {
        const udp = libc.inetSocket(libc.SOCK_DGRAM, address, port);
        try {
          return { udp, tcp: libc.inetSocket(libc.SOCK_STREAM, address, port), key };
        } catch (e) {
          libc.closeFd(udp);
          throw e;
        }
      }),
    );
  }

  // ---- reading ----

  /** Reads a namespace; null when it does not exist. */
  read(path: string | null, spec: NsReadSpec): NsSnapshot | null {
    const tables = spec.nftTables ?? [];
    const h = this.handle(path, tables.length > 0);
    if (!h) return null;
    const links = decodeLinks(h.rtnl.dump(NL.RTM_GETLINK, ifinfomsg(), LINK_DUMP_ATTRS));
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
    // A context is kept only where weft has a table (the host's firewall): one opened to find that
    // a table is absent (a container's legacy DNS table) would otherwise pile up, a socket each.
    if (path !== null && tables.length > 0 && tables.every((t) => snap.nft[nftTableKey(t)] === null)) this.releaseNft(path);
    return snap;
  }

  /** Frees a named namespace's nftables context (its rtnetlink socket stays). */
  private releaseNft(path: string): void {
    const k = keyOf(path);
    const h = k === undefined ? undefined : this.handles.get(k);
    if (!k || !h?.nft) return;
    this.nftUse.delete(k);
    h.nft.free();
    delete h.nft;
  }

  /** Link names of a namespace (null when it is gone). */
  linkNames(path: string | null): string[] | null {
    const h = this.handle(path, false);
    return h ? decodeLinks(h.rtnl.dump(NL.RTM_GETLINK, ifinfomsg(), LINK_DUMP_ATTRS)).map((l) => l.name) : null;
  }

  // ---- the kernel monitor's: namespace ids, links going away ----

  /**
   * The nsids the namespace at `hostPath` gives to namespaces under /run/netns (RTM_GETNSID with
   * each one's descriptor), as `ip netns list-id` names them. With `names`, only those, and each
   * one without an id gets one (RTM_NEWNSID): events of a namespace without an id never reach a
   * NETLINK_LISTEN_ALL_NSID socket.
   */
  nsIds(hostPath: string | null, names?: readonly string[]): [number, string][] {
    const h = this.handle(hostPath, false);
    if (!h) return [];
    const hostKey = hostPath === null ? keyOf('/proc/thread-self/ns/net') : keyOf(hostPath);
    let all: string[];
    try {
      all = names ? [...names] : readdirSync(NETNS_RUN_DIR);
    } catch {
      all = [];
    }
    const out: [number, string][] = [];
    for (const name of all) {
      const path = `${NETNS_RUN_DIR}/${checkNetnsName(name)}`;
      if (keyOf(path) === hostKey) continue;
      let fd: number;
      try {
        fd = libc.openFile(path);
      } catch {
        continue; // gone meanwhile
      }
      try {
        let id = getNsId(h.rtnl, fd);
        if (id === undefined && names) {
          try {
            h.rtnl.request({ type: MON.RTM_NEWNSID, flags: 0, fixed: Buffer.alloc(4), attrs: [attr.u32(MON.NETNSA_FD, fd), attr.u32(MON.NETNSA_NSID, -1)] });
          } catch {
            /* not a namespace, or ids exhausted: it stays without one */
          }
          id = getNsId(h.rtnl, fd);
        }
        if (id !== undefined) out.push([id, name]);
      } finally {
        libc.closeFd(fd);
      }
    }
    return out;
  }

  /**
   * Makes sure none of `links` exists in the namespace at `path` when it returns. They belong to
   * namespaces just deleted, which the kernel destroys in the background: subscribe to the
   * namespace's link notifications first, then list its links, then take each RTM_DELLINK as it
   * comes (no polling, no race between the two). A link still there after `quietMs` without one
   * (its namespace is kept alive, e.g. by a process inside it) is deleted here (its peer goes
   * with it). Returns the links that could not be deleted.
   */
  awaitGone(path: string | null, links: readonly string[], quietMs: number): string[] {
    if (links.length === 0) return [];
    const h = this.handle(path, false);
    const listener = h ? this.inside(path, () => new NetlinkListener(NL.NETLINK_ROUTE, [MON.RTNLGRP_LINK], { ownOnly: true })) : null;
    if (!h || listener === null) return [];
    const remaining = new Set<string>();
    try {
      const present = new Set(this.linkNames(path) ?? []);
      for (const l of links) if (present.has(l)) remaining.add(l);
      let quietUntil = Date.now() + quietMs;
      while (remaining.size > 0 && Date.now() < quietUntil) {
        if (!listener.wait(quietUntil - Date.now())) continue;
        const got = listener.drain();
        const before = remaining.size;
        if (got === 'overrun') {
          // Notifications were dropped: the kernel's list is the truth.
          const now = new Set(this.linkNames(path) ?? []);
          for (const l of [...remaining]) if (!now.has(l)) remaining.delete(l);
        } else {
          for (const d of got) {
            for (const m of d.messages) {
              if (m.type !== NL.RTM_DELLINK) continue;
              const name = parseAttrs(m.body, 16).get(IFLA.IFLA_IFNAME);
              if (name) remaining.delete(cString(name));
            }
          }
        }
        // The kernel is still working through them: keep waiting while it makes progress.
        if (remaining.size < before) quietUntil = Date.now() + quietMs;
      }
    } finally {
      listener.close();
    }
    const failed: string[] = [];
    for (const name of remaining) {
      try {
        h.rtnl.request({ type: NL.RTM_DELLINK, flags: 0, fixed: ifinfomsg(), attrs: [attr.str(IFLA.IFLA_IFNAME, checkIfName(name, 'deleting a link'))] });
      } catch (e) {
        // ENODEV: the kernel destroyed it meanwhile.
        if (!(e instanceof NetlinkError && e.errno === 19)) failed.push(name);
      }
    }
    return failed;
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
    this.writeSysctls(w, true);
    for (const { op, alias } of withBirthTags(w.ip)) {
      this.apply(key, op, () => {
        for (const req of ipRequests(op, resolve, alias)) h.rtnl.request(req);
      });
      resolve.forget(op);
    }
    for (const op of w.fdb ?? []) this.applyFdb(key, op, () => h.rtnl.request(fdbRequest(op, resolve)));
    this.writeSysctls(w, false);
    if (w.nft.length > 0) {
      const res = h.nft!.run(JSON.stringify({ nftables: w.nft }));
      if (!res.ok) throw new WorkError({ message: `loading nftables rules in namespace ${key}`, command: 'libnftables (nft -j -f)', stderr: res.error });
    }
    return w.readBack ? this.read(w.ns.path, w.readBack) : null;
  }

  /** Writes the work's early sysctls (before its ip operations) or the others (after them). */
  private writeSysctls(w: NsWork, early: boolean): void {
    const todo = w.sysctls.filter((s) => (s.early ?? false) === early);
    if (todo.length === 0) return;
    const key = w.ns.key;
    const done = this.inside(w.ns.path, () => {
      for (const s of todo) {
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

  // Errors name the operation as the equivalent ip/bridge command line (what a user would type to
  // retry it), with the kernel's answer worded as iproute2 words it.
  private apply(ns: string, op: IpOp, send: () => unknown): void {
    try {
      send();
    } catch (e) {
      if (alreadyGone(op.op, e)) return;
      throw new WorkError({ internal: e instanceof InternalError, message: `${op.what} in namespace ${ns}`, command: `ip ${safeRender(() => renderIpOp(op))}`, stderr: errText(e) });
    }
  }

  private applyFdb(ns: string, op: FdbOp, send: () => unknown): void {
    try {
      send();
    } catch (e) {
      if (alreadyGone(op.op, e)) return;
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

/** The nsid a socket's namespace gives the namespace open as `fd`; undefined when it has none. */
function getNsId(rtnl: RtnlSocket, fd: number): number | undefined {
  let replies;
  try {
    replies = rtnl.request({ type: MON.RTM_GETNSID, flags: 0, fixed: Buffer.alloc(4), attrs: [attr.u32(MON.NETNSA_FD, fd)] });
  } catch {
    return undefined;
  }
  const id = s32(replies[0] ? parseAttrs(replies[0].body, 4).get(MON.NETNSA_NSID) : undefined);
  return id === undefined || id < 0 ? undefined : id;
}

/**
 * Deleting what is already gone is done, as a delete's purpose is met: the link or its device
 * (ENODEV), an address (EADDRNOTAVAIL), a route (ESRCH), a neighbour or forwarding entry
 * (ENOENT). Someone else's deletion racing weft's (drift during a repair) is then no failure.
 */
function alreadyGone(op: string, e: unknown): boolean {
  if (!(e instanceof NetlinkError)) return false;
  const gone: Record<string, readonly number[]> = { 'link-del': [19], 'addr-del': [19, 99], 'route-del': [3, 19], 'neigh-del': [2, 19], 'fdb-del': [2, 19] };
  return gone[op]?.includes(e.errno) ?? false;
}

/** Link dumps leave out the counters weft never reads. */
const LINK_DUMP_ATTRS = [attr.u32(IFLA.IFLA_EXT_MASK, IFLA.RTEXT_FILTER_SKIP_STATS)];

/** How often listNetns compares every held namespace's identity with its name's. */
const FULL_CHECK_MS = 5000;

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
