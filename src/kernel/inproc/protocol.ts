import type { NsReadRequest, NsSnapshot, NsWork } from '../types.js';

/** Messages between the main thread and the namespace worker (structured-clone data only). */

export type Job =
  | { kind: 'list-netns' }
  | { kind: 'read'; reqs: NsReadRequest[] }
  | { kind: 'write'; works: NsWork[] }
  | { kind: 'netns-add'; names: string[] }
  | { kind: 'netns-del'; names: string[] }
  // ---- the kernel monitor's (branch monitor) ----
  /** nsids the host namespace gives the namespaces under /run/netns; `names`: only these, given an id if they have none. */
  | { kind: 'ns-ids'; host: string | null; names?: string[] }
  /** Returns when none of `links` exists in the namespace: their RTM_DELLINKs, or deleted after `quietMs` without one. */
  | { kind: 'await-gone'; path: string | null; links: string[]; quietMs: number }
  // -- embedded DNS sockets (issue 12 item 7) --
  | DnsSocketJob;

/** Opens a UDP and a listening TCP socket at address:port inside the namespace at `path`. */
export interface DnsSocketJob {
  kind: 'dns-sockets';
  path: string;
  address: string;
  port: number;
}

/** Descriptors (process-wide) and the namespace's nsfs identity; null when the namespace is gone. */
export interface DnsSocketResult {
  kind: 'dns-sockets';
  sockets: { udp: number; tcp: number; key: string } | null;
}

export type JobResult =
  | { kind: 'list-netns'; names: string[] }
  | { kind: 'read'; snapshots: (NsSnapshot | null)[] }
  | { kind: 'write'; readBack: [string, NsSnapshot][]; writes: number; error?: JobError }
  | { kind: 'done' }
  /** Namespaces are made in order: `created` of them exist; `error` stopped the rest. */
  | { kind: 'netns-add'; created: number; error?: JobError }
  // ---- the kernel monitor's (branch monitor) ----
  | { kind: 'ns-ids'; ids: [number, string][] }
  /** `remaining`: the links that could not be deleted (empty: all gone). */
  | { kind: 'await-gone'; remaining: string[] }
  // -- embedded DNS sockets --
  | DnsSocketResult;

/** A failure, to become a KernelError (or InternalError) on the main thread. */
export interface JobError {
  internal?: boolean;
  message: string;
  command: string;
  stderr: string;
}

export type ToWorker = { id: number; job: Job };
export type FromWorker = { id: number; result?: JobResult; error?: JobError } | { id: number; progress: number };
