import { strerror } from './libc.js';
import { closeFd, netlinkSocket, recv, send, setIntOption, SO_RCVBUF, SO_SNDBUF, SOL_NETLINK, SOL_SOCKET } from './libc.js';
import type { Attr, NlMessage } from './rtnl-codec.js';
import { encodeMessage, parseError, splitMessages } from './rtnl-codec.js';
import { NL } from './rtnl-constants.js';
import type { Request } from './rtnl-requests.js';

/** A request the kernel refused: errno and its extended message, worded as `ip` words them. */
export class NetlinkError extends Error {
  readonly errno: number;
  constructor(errno: number, extMessage: string | undefined) {
    // iproute2 prints the kernel's extended ack as "Error: MSG." and plain errnos as below.
    super(extMessage ? `Error: ${extMessage}.` : `RTNETLINK answers: ${strerror(errno)}`);
    this.name = 'NetlinkError';
    this.errno = errno;
  }
}

/** Shared by every socket of the thread: replies are copied out of it message by message. */
const RECV_BUFFER = Buffer.alloc(1 << 20);

/**
 * One blocking NETLINK_ROUTE socket, bound to the namespace it was opened in (whatever thread
 * uses it later). Requests wait for their ACK, one at a time, so the first failure stops a
 * namespace's work as `ip -batch` does. Used only on the namespace worker.
 */
export class RtnlSocket {
  private readonly fd: number;
  private seq = 0;

  /** Opens the socket in the calling thread's current namespace. */
  constructor() {
    this.fd = netlinkSocket(NL.NETLINK_ROUTE);
    try {
      // Only the header of a failed request comes back, with the kernel's own message attached.
      setIntOption(this.fd, SOL_NETLINK, NL.NETLINK_CAP_ACK, 1);
      setIntOption(this.fd, SOL_NETLINK, NL.NETLINK_EXT_ACK, 1);
      setIntOption(this.fd, SOL_SOCKET, SO_RCVBUF, 1 << 20);
      setIntOption(this.fd, SOL_SOCKET, SO_SNDBUF, 1 << 20);
    } catch (e) {
      closeFd(this.fd);
      throw e;
    }
  }

  /** Sends one request and waits for its ACK; throws NetlinkError with the kernel's answer. */
  request(req: Request): NlMessage[] {
    const seq = ++this.seq;
    send(this.fd, encodeMessage(req.type, req.flags | NL.NLM_F_ACK, seq, req.fixed, req.attrs));
    const replies: NlMessage[] = [];
    for (;;) {
      for (const m of splitMessages(RECV_BUFFER, recv(this.fd, RECV_BUFFER))) {
        if (m.seq !== seq) continue;
        if (m.type === NL.NLMSG_ERROR) {
          const e = parseError(m);
          if (e.errno !== 0) throw new NetlinkError(e.errno, e.message);
          return replies;
        }
        replies.push(m);
      }
    }
  }

  /** A dump: every reply message until NLMSG_DONE. */
  dump(type: number, fixed: Buffer, attrs: Attr[] = []): NlMessage[] {
    const seq = ++this.seq;
    send(this.fd, encodeMessage(type, NL.NLM_F_DUMP, seq, fixed, attrs));
    const out: NlMessage[] = [];
    for (;;) {
      for (const m of splitMessages(RECV_BUFFER, recv(this.fd, RECV_BUFFER))) {
        if (m.seq !== seq) continue;
        if (m.type === NL.NLMSG_DONE) return out;
        if (m.type === NL.NLMSG_ERROR) {
          const e = parseError(m);
          throw new NetlinkError(e.errno, e.message);
        }
        out.push(m);
      }
    }
  }

  close(): void {
    closeFd(this.fd);
  }
}
