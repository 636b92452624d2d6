import * as libc from './libc.js';
import type { NlMessage } from './rtnl-codec.js';
import { splitMessages } from './rtnl-codec.js';
import { NL } from './rtnl-constants.js';

/** One received datagram: the namespace it came from (its nsid as the socket's namespace numbers it; null: that namespace itself). */
export interface Datagram {
  nsid: number | null;
  messages: NlMessage[];
}

const DATA_SIZE = 1 << 18;
const CONTROL_SIZE = 256;
const MSGHDR_SIZE = 56;
const SO_RCVBUFFORCE = 33;
/** Big enough for a resync's burst of our own events at N = 1000; an overrun still only costs a full resync. */
const RCVBUF = 8 << 20;

/**
 * A netlink socket that listens to multicast groups of every namespace with an id
 * (NETLINK_LISTEN_ALL_NSID), read with recvmsg so each datagram keeps the nsid the kernel puts in
 * its ancillary data. Never blocks: `drain` reads what is waiting (poll for readiness first).
 */
export class NetlinkListener {
  readonly fd: number;
  private readonly data = libc.rawBuffer(DATA_SIZE);
  private readonly control = libc.rawBuffer(CONTROL_SIZE);
  private readonly iov = libc.rawBuffer(16);
  private readonly msg = libc.rawBuffer(MSGHDR_SIZE);
  private readonly pollFd = libc.rawBuffer(8);

  /** Opens the socket in the calling thread's namespace and joins `groups` (of every namespace with an id, unless `ownOnly`). */
  constructor(protocol: number, groups: readonly number[], opts: { ownOnly?: boolean } = {}) {
    this.fd = libc.netlinkSocket(protocol);
    try {
      libc.bindNetlink(this.fd);
      try {
        libc.setIntOption(this.fd, libc.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF);
      } catch {
        libc.setIntOption(this.fd, libc.SOL_SOCKET, libc.SO_RCVBUF, RCVBUF);
      }
      if (!opts.ownOnly) libc.setIntOption(this.fd, libc.SOL_NETLINK, NL.NETLINK_LISTEN_ALL_NSID, 1);
      for (const g of groups) libc.setIntOption(this.fd, libc.SOL_NETLINK, 1 /* NETLINK_ADD_MEMBERSHIP */, g);
    } catch (e) {
      libc.closeFd(this.fd);
      throw e;
    }
    this.iov.bytes.writeBigUInt64LE(this.data.address, 0);
    this.iov.bytes.writeBigUInt64LE(BigInt(DATA_SIZE), 8);
  }

  /** Every datagram waiting now; 'overrun' when the kernel dropped some (ENOBUFS): events were lost. */
  drain(): Datagram[] | 'overrun' {
    const out: Datagram[] = [];
    for (;;) {
      const m = this.msg.bytes;
      m.fill(0);
      m.writeBigUInt64LE(this.iov.address, 16);
      m.writeBigUInt64LE(1n, 24);
      m.writeBigUInt64LE(this.control.address, 32);
      m.writeBigUInt64LE(BigInt(CONTROL_SIZE), 40);
      let r;
      try {
        r = libc.recvmsg(this.fd, this.msg, libc.MSG_DONTWAIT);
      } catch (e) {
        if (e instanceof libc.SyscallError && e.errno === libc.ENOBUFS) return 'overrun';
        throw e;
      }
      if (r === null) return out;
      out.push({ nsid: nsidOf(this.control.bytes, r.controlLength), messages: splitMessages(this.data.bytes, r.length) });
    }
  }

  /** Waits up to `ms` for a datagram; true when one is waiting. */
  wait(ms: number): boolean {
    this.pollFd.bytes.writeInt32LE(this.fd, 0);
    this.pollFd.bytes.writeInt32LE(libc.POLLIN, 4);
    return libc.poll(this.pollFd, 1, Math.max(0, Math.ceil(ms))) > 0;
  }

  close(): void {
    libc.closeFd(this.fd);
  }
}

/** The nsid in a control buffer (cmsghdr: u64 len, i32 level, i32 type, data), if there is one. */
export function nsidOf(control: Buffer, length: number): number | null {
  let off = 0;
  while (off + 16 <= length) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < 16) break;
    if (control.readInt32LE(off + 8) === libc.SOL_NETLINK && control.readInt32LE(off + 12) === NL.NETLINK_LISTEN_ALL_NSID && len >= 20) {
      const nsid = control.readInt32LE(off + 16);
      return nsid < 0 ? null : nsid;
    }
    off += (len + 7) & ~7;
  }
  return null;
}
