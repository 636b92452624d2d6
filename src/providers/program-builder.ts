import type { FdbOp, IpOp, KernelProgram, NsRef, NsWork, SysctlWrite } from '../kernel/index.js';
import { emptyProgram } from '../kernel/index.js';
import { HOST } from '../state/types.js';
import type { NsKey } from '../state/types.js';

/**
 * Collects kernel operations from providers and orders them into a KernelProgram: per namespace,
 * deletes (highest rank first) before creates (lowest rank first), one process per namespace.
 */
export class ProgramBuilder {
  private readonly ops = new Map<
    NsKey,
    { ref: NsRef; items: { key: number; seq: number; op: IpOp }[]; fdb: FdbOp[]; sysctls: SysctlWrite[]; nft: { key: number; seq: number; command: unknown }[] }
  >();
  private readonly early = new Map<NsKey, { ref: NsRef; items: { key: number; seq: number; op: IpOp }[] }>();
  private seq = 0;
  private readonly program: KernelProgram;

  constructor(private readonly host: NsRef) {
    this.program = emptyProgram(host);
  }

  /** Adds an ip operation in a namespace; `rank` orders it (negative for deletes). */
  ip(ns: NsRef, rank: number, op: IpOp): void {
    this.slot(ns).items.push({ key: rank, seq: this.seq++, op });
  }

  /** Adds an ip operation in a container namespace that runs before the host namespace's work. */
  ipEarly(ns: NsRef, rank: number, op: IpOp): void {
    if (ns.key === HOST) return this.ip(ns, rank, op);
    let s = this.early.get(ns.key);
    if (!s) this.early.set(ns.key, (s = { ref: ns, items: [] }));
    s.items.push({ key: rank, seq: this.seq++, op });
  }

  /** Adds a forwarding-table operation (run as one `bridge -batch` after the namespace's ip operations). */
  fdb(ns: NsRef, op: FdbOp): void {
    this.slot(ns).fdb.push(op);
  }

  sysctl(ns: NsRef, write: SysctlWrite): void {
    this.slot(ns).sysctls.push(write);
  }

  /**
   * Adds nftables JSON commands for a namespace; all of a namespace's commands load as one
   * transaction, ordered by `order` (ascending, stable): e.g. rules flushed before the sets they
   * use are deleted, sets added before the rules that use them.
   */
  nft(ns: NsRef, commands: readonly unknown[], order = 0): void {
    const slot = this.slot(ns);
    for (const command of commands) slot.nft.push({ key: order, seq: this.seq++, command });
  }

  netnsAdd(name: string): void {
    this.program.netnsAdd.push(name);
  }

  netnsDelete(name: string): void {
    this.program.netnsDelete.push(name);
  }

  writeFile(path: string, content: string): void {
    this.program.files.write.push({ path, content });
  }

  removeFile(path: string): void {
    this.program.files.remove.push(path);
  }

  removeDir(path: string): void {
    if (!this.program.files.removeDirs.includes(path)) this.program.files.removeDirs.push(path);
  }

  awaitGone(ns: NsRef, link: string): void {
    const g = this.program.awaitGone.find((x) => x.ns.key === ns.key);
    if (g) g.links.push(link);
    else this.program.awaitGone.push({ ns, links: [link] });
  }

  build(): KernelProgram {
    const byRank = (a: { key: number; seq: number }, b: { key: number; seq: number }) => a.key - b.key || a.seq - b.seq;
    for (const [key, slot] of this.ops) {
      slot.items.sort(byRank);
      slot.nft.sort(byRank);
      const work: NsWork = { ns: slot.ref, ip: slot.items.map((i) => i.op), sysctls: slot.sysctls, nft: slot.nft.map((n) => n.command) };
      if (slot.fdb.length > 0) work.fdb = slot.fdb;
      if (key === HOST) this.program.host = work;
      else this.program.containers.push(work);
    }
    if (this.early.size > 0) {
      this.program.early = [...this.early.values()].map((s) => ({ ns: s.ref, ip: s.items.sort(byRank).map((i) => i.op), sysctls: [], nft: [] }));
    }
    return this.program;
  }

  private slot(ns: NsRef) {
    let s = this.ops.get(ns.key);
    if (!s) {
      s = { ref: ns.key === HOST ? this.host : ns, items: [], fdb: [], sysctls: [], nft: [] };
      this.ops.set(ns.key, s);
    }
    return s;
  }
}

/** Ordering keys: creates use +rank, deletes -rank, so deletes run first and bottom-up. */
export const order = {
  create: (rank: number) => rank,
  delete: (rank: number) => -rank,
};
