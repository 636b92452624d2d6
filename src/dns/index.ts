import type { Topology } from '../compile/index.js';
import { buildDnsConfig } from '../compile/index.js';
import { WeftError } from '../errors.js';
import { NETNS_ENV, inHostNetns } from '../kernel/index.js';
import type { Kernel } from '../kernel/index.js';
import type { Logger } from '../log.js';
import { namespaceSockets } from './ns-sockets.js';
import { DnsServer } from './server.js';
import type { DnsStats } from './server.js';

export type { DnsStats } from './server.js';
export { DnsServer } from './server.js';
export type { DnsServerOptions, OpenedSockets, SocketSource } from './server.js';
export { DNS_PORT, namespaceSockets } from './ns-sockets.js';
export { RecordStore } from './store.js';
export type { Decision } from './store.js';

export interface StartDnsOptions {
  /** The --host-netns name ("" for the machine's own): this process must already run in it. */
  hostNetns: string;
  log: Logger;
  /** Opens the sockets inside container namespaces (its namespace worker; see Kernel.openDnsSockets). */
  kernel: Kernel;
  /** Port inside each container namespace (53). */
  port?: number;
  /** Per-upstream timeout before trying the next one, then SERVFAIL (1500 ms). */
  upstreamTimeoutMs?: number;
}

/** The embedded DNS server as the CLI and the daemon use it. */
export interface DnsServerHandle {
  /**
   * New records from a compiled topology (every endpoint, local or remote) and the host
   * namespace's resolv.conf text (the upstreams). Takes effect for the next query; each client
   * container gets its sockets (namespaces that do not exist yet are retried every second).
   */
  update(topology: Topology, hostResolvConf: string): void;
  /** Stops listening. */
  close(): Promise<void>;
  /** Counters: responses by rcode (for weft_dns_responses_total{rcode=...}), forwarded, truncated, listen state. */
  stats(): DnsStats;
}

/**
 * Starts the embedded DNS server, with no records until the first update(). It serves each client
 * container on sockets inside that container's namespace and forwards from this process's
 * namespace. Throws WeftError DNS_NETNS when the process is not inside the host namespace
 * (re-exec with kernel's reexecInNetns first: Node cannot switch namespaces).
 */
export function startDnsServer(opts: StartDnsOptions): DnsServerHandle {
  if (!inHostNetns(opts.hostNetns)) {
    throw new WeftError('DNS_NETNS', `the DNS server must run inside namespace ${opts.hostNetns}; run this process again there (reexecInNetns; ${NETNS_ENV} marks it)`);
  }
  const server = new DnsServer({
    log: opts.log,
    sockets: namespaceSockets(opts.kernel, opts.port),
    ...(opts.upstreamTimeoutMs !== undefined ? { upstreamTimeoutMs: opts.upstreamTimeoutMs } : {}),
  });
  return {
    update: (topology, hostResolvConf) => server.setConfig(buildDnsConfig(topology, hostResolvConf)),
    close: () => server.close(),
    stats: () => server.stats(),
  };
}
