import koffi from 'koffi';

/**
 * The few libc calls the in-process kernel needs, through koffi (a prebuilt FFI: no compiler).
 * Loaded lazily, so importing this module costs nothing until a call is made. Every wrapper
 * throws SyscallError (errno and the call's name) instead of returning -1. Only the namespace
 * worker calls setns and unshare: they move the calling thread.
 */

/** A failed system call: its name, its argument in words, and errno. */
export class SyscallError extends Error {
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, errno: number, detail: string) {
    super(`${syscall}(${detail}): ${strerror(errno)}`);
    this.name = 'SyscallError';
    this.syscall = syscall;
    this.errno = errno;
  }
}

export const CLONE_NEWNET = 0x40000000;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_SHARED = 1 << 20;
export const MNT_DETACH = 2;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_NETLINK = 270;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_SNDBUF = 7;
export const ENOENT = 2;
export const EINVAL = 22;
export const EINTR = 4;
export const AF_INET = 2;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SO_REUSEADDR = 2;
export const RLIMIT_NOFILE = 7;
export const EAGAIN = 11;
export const ENOBUFS = 105;
export const MSG_DONTWAIT = 0x40;
export const POLLIN = 1;

/* eslint-disable @typescript-eslint/no-explicit-any -- koffi functions are untyped */
interface Libc {
  open: (path: string, flags: number, mode: number) => number;
  close: (fd: number) => number;
  setns: (fd: number, nstype: number) => number;
  unshare: (flags: number) => number;
  mount: (src: string, target: string, type: string, flags: number, data: null) => number;
  umount2: (target: string, flags: number) => number;
  socket: (domain: number, type: number, protocol: number) => number;
  setsockopt: (fd: number, level: number, name: number, value: Int32Array, len: number) => number;
  send: (fd: number, buf: Buffer, len: number, flags: number) => number | bigint;
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number | bigint;
  strerror: (errno: number) => string;
  bind: (fd: number, addr: Buffer, len: number) => number;
  listen: (fd: number, backlog: number) => number;
  getrlimit: (resource: number, limits: BigUint64Array) => number;
  setrlimit: (resource: number, limits: BigUint64Array) => number;
  poll: (fds: unknown, n: number, timeoutMs: number) => number;
  recvmsg: (fd: number, msg: unknown, flags: number) => number | bigint;
  fcntl: (fd: number, cmd: number, arg: number) => number;
}

let lib: Libc | undefined;

function libc(): Libc {
  if (lib) return lib;
  const c = koffi.load('libc.so.6');
  const f = (decl: string) => c.func(decl) as (...args: any[]) => any;
  lib = {
    open: f('int open(const char *path, int flags, int mode)'),
    close: f('int close(int fd)'),
    setns: f('int setns(int fd, int nstype)'),
    unshare: f('int unshare(int flags)'),
    mount: f('int mount(const char *src, const char *target, const char *type, unsigned long flags, const void *data)'),
    umount2: f('int umount2(const char *target, int flags)'),
    socket: f('int socket(int domain, int type, int protocol)'),
    setsockopt: f('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    send: f('long send(int fd, const void *buf, size_t len, int flags)'),
    recv: f('long recv(int fd, _Out_ void *buf, size_t len, int flags)'),
    strerror: f('const char *strerror(int errnum)'),
    bind: f('int bind(int fd, const void *addr, uint32_t len)'),
    listen: f('int listen(int fd, int backlog)'),
    getrlimit: f('int getrlimit(int resource, _Out_ uint64_t *limits)'),
    setrlimit: f('int setrlimit(int resource, const uint64_t *limits)'),
    poll: f('int poll(void *fds, unsigned long n, int timeout)'),
    recvmsg: f('long recvmsg(int fd, void *msg, int flags)'),
    fcntl: f('int fcntl(int fd, int cmd, int arg)'),
  };
  return lib;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

export function strerror(errno: number): string {
  return libc().strerror(errno);
}

function check(rc: number | bigint, syscall: string, detail: string): number {
  const n = Number(rc);
  if (n < 0) throw new SyscallError(syscall, koffi.errno(), detail);
  return n;
}

export function openFile(path: string, flags = O_RDONLY | O_CLOEXEC, mode = 0): number {
  return check(libc().open(path, flags, mode), 'open', path);
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

/** Moves the calling thread into the network namespace open as `fd`. */
export function setns(fd: number, what: string): void {
  check(libc().setns(fd, CLONE_NEWNET), 'setns', what);
}

/** Gives the calling thread a new, empty network namespace. */
export function unshareNet(): void {
  check(libc().unshare(CLONE_NEWNET), 'unshare', 'CLONE_NEWNET');
}

export function mount(src: string, target: string, flags: number): void {
  check(libc().mount(src, target, 'none', flags, null), 'mount', `${src} on ${target}`);
}

export function umount(target: string, flags: number): void {
  check(libc().umount2(target, flags), 'umount2', target);
}

/**
 * `fd` moved to a descriptor number of 1024 or more when the limit allows: libnftables waits on
 * its own socket with select(2), which aborts the process (glibc's fortify check) for a
 * descriptor >= 1024, so weft keeps the low numbers free for it. Every socket weft makes per
 * namespace (netlink, the embedded DNS's two) goes up there; with them, the low numbers ran out
 * at N = 1000.
 */
function aboveSelectLimit(fd: number): number {
  const high = libc().fcntl(fd, 1030 /* F_DUPFD_CLOEXEC */, 1024);
  if (high < 0) return fd;
  libc().close(fd);
  return high;
}

/** A netlink socket, at a descriptor number above select(2)'s limit (see aboveSelectLimit). */
export function netlinkSocket(protocol: number): number {
  return aboveSelectLimit(check(libc().socket(16, SOCK_RAW | SOCK_CLOEXEC, protocol), 'socket', 'AF_NETLINK'));
}

export function setIntOption(fd: number, level: number, name: number, value: number): void {
  check(libc().setsockopt(fd, level, name, Int32Array.of(value), 4), 'setsockopt', `${level}/${name}`);
}

export function send(fd: number, buf: Buffer): void {
  for (;;) {
    const n = Number(libc().send(fd, buf, buf.length, 0));
    if (n >= 0) return;
    const e = koffi.errno();
    if (e !== EINTR) throw new SyscallError('send', e, 'netlink');
  }
}

/** Receives one datagram into `buf`; returns its length. */
export function recv(fd: number, buf: Buffer): number {
  for (;;) {
    const n = Number(libc().recv(fd, buf, buf.length, 0));
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e !== EINTR) throw new SyscallError('recv', e, 'netlink');
  }
}

/**
 * A non-blocking IPv4 socket (SOCK_DGRAM or SOCK_STREAM) bound to address:port; listening if a
 * stream. At a descriptor number above select(2)'s limit (see aboveSelectLimit).
 */
export function inetSocket(type: number, address: string, port: number): number {
  const what = `${type === SOCK_STREAM ? 'tcp' : 'udp'} ${address}:${port}`;
  const fd = aboveSelectLimit(check(libc().socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), 'socket', what));
  try {
    // A listener restarted while old connections linger in TIME_WAIT can bind again.
    if (type === SOCK_STREAM) setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    check(libc().bind(fd, sockaddrIn(address, port), 16), 'bind', what);
    if (type === SOCK_STREAM) check(libc().listen(fd, 511), 'listen', what);
    return fd;
  } catch (e) {
    libc().close(fd);
    throw e;
  }
}

/** struct sockaddr_in for a dotted IPv4 address. */
function sockaddrIn(address: string, port: number): Buffer {
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SyscallError('bind', EINVAL, `${address}:${port}`);
  }
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  octets.forEach((o, i) => (b[4 + i] = o));
  return b;
}

/** Raises this process's soft limit of open descriptors to its hard limit; returns the new soft limit. */
export function raiseOpenFileLimit(): number {
  const lim = new BigUint64Array(2);
  check(libc().getrlimit(RLIMIT_NOFILE, lim), 'getrlimit', 'RLIMIT_NOFILE');
  if (lim[0]! < lim[1]!) {
    lim[0] = lim[1]!;
    check(libc().setrlimit(RLIMIT_NOFILE, lim), 'setrlimit', 'RLIMIT_NOFILE');
  }
  return Number(lim[0]);
}

/** Binds a netlink socket to no group with a kernel-chosen port id (groups are joined by setsockopt). */
export function bindNetlink(fd: number): void {
  const addr = Buffer.alloc(12);
  addr.writeUInt16LE(16, 0); // AF_NETLINK; nl_pid 0: the kernel picks; nl_groups 0
  check(libc().bind(fd, addr, addr.length), 'bind', 'AF_NETLINK');
}

/** Memory outside the JavaScript heap that the kernel reads and writes through raw pointers. */
export interface RawBuffer {
  ptr: unknown;
  bytes: Buffer;
  address: bigint;
}

export function rawBuffer(size: number): RawBuffer {
  const ptr = koffi.alloc('uint8_t', size);
  return { ptr, bytes: Buffer.from(koffi.view(ptr, size)), address: BigInt(koffi.address(ptr)) };
}

/** poll(2) over descriptors (an array of struct pollfd in `fds`); returns how many are ready. */
export function poll(fds: RawBuffer, n: number, timeoutMs: number): number {
  const r = libc().poll(fds.ptr, n, timeoutMs);
  if (r >= 0) return r;
  const e = koffi.errno();
  if (e === EINTR) return 0;
  throw new SyscallError('poll', e, `${n} descriptors`);
}

/**
 * recvmsg(2) with its struct msghdr, iovec and control buffer prepared in raw memory: returns the
 * datagram's length and the control data's length, or null when nothing is waiting (EAGAIN).
 */
export function recvmsg(fd: number, msg: RawBuffer, flags: number): { length: number; controlLength: number } | null {
  for (;;) {
    const n = Number(libc().recvmsg(fd, msg.ptr, flags));
    if (n >= 0) return { length: n, controlLength: Number(msg.bytes.readBigUInt64LE(40)) };
    const e = koffi.errno();
    if (e === EAGAIN) return null;
    if (e !== EINTR) throw new SyscallError('recvmsg', e, 'netlink');
  }
}
