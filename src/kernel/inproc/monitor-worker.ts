import { parentPort, workerData } from 'node:worker_threads';
import type { KernelEvent } from '../monitor.js';
import * as libc from './libc.js';
import { decodeRtnl, NftGenerations } from './monitor-decode.js';
import type { Datagram } from './nl-listener.js';
import { NetlinkListener } from './nl-listener.js';
import { MON, NFT, NL } from './rtnl-constants.js';

/**
 * The kernel monitor thread: two netlink sockets opened inside the host namespace, one for
 * rtnetlink (links, addresses, routes, neighbours and forwarding entries) and one for nftables
 * commits, both with NETLINK_LISTEN_ALL_NSID, so every namespace the host has an id for reports
 * on them with its nsid. It waits in poll(2) on its own thread (the main thread never blocks) and
 * posts decoded events in batches. Never writes to the kernel.
 */

export interface MonitorWorkerData {
  /** The host namespace to listen from (null: this process's own). */
  hostPath: string | null;
  /** Int32 slot set to 1 to stop (the thread checks it between waits). */
  stop: SharedArrayBuffer;
}

export type FromMonitor = { kind: 'ready' } | { kind: 'events'; events: KernelEvent[] } | { kind: 'overrun' } | { kind: 'failed'; message: string };

const port = parentPort;
if (!port) throw new Error('monitor-worker: not started as a worker thread');
const data = workerData as MonitorWorkerData;
const stop = new Int32Array(data.stop);
const post = (m: FromMonitor) => port.postMessage(m);
/** How long one wait lasts before the stop flag is looked at again. */
const WAIT_MS = 100;

try {
  // This thread lives in the host namespace from here on: it never needs to come back.
  if (data.hostPath !== null) {
    const fd = libc.openFile(data.hostPath);
    try {
      libc.setns(fd, data.hostPath);
    } finally {
      libc.closeFd(fd);
    }
  }
  const rtnl = new NetlinkListener(NL.NETLINK_ROUTE, [MON.RTNLGRP_LINK, MON.RTNLGRP_NEIGH, MON.RTNLGRP_IPV4_IFADDR, MON.RTNLGRP_IPV4_ROUTE, MON.RTNLGRP_IPV6_IFADDR, MON.RTNLGRP_IPV6_ROUTE]);
  const nft = new NetlinkListener(MON.NETLINK_NETFILTER, [NFT.NFNLGRP_NFTABLES]);
  const generations = new NftGenerations();
  const fds = libc.rawBuffer(16);
  fds.bytes.writeInt32LE(rtnl.fd, 0);
  fds.bytes.writeInt32LE(nft.fd, 8);
  post({ kind: 'ready' });
  while (Atomics.load(stop, 0) === 0) {
    fds.bytes.writeInt16LE(libc.POLLIN, 4);
    fds.bytes.writeInt16LE(0, 6);
    fds.bytes.writeInt16LE(libc.POLLIN, 12);
    fds.bytes.writeInt16LE(0, 14);
    if (libc.poll(fds, 2, WAIT_MS) === 0) continue;
    const events: KernelEvent[] = [];
    let overrun = false;
    const take = (got: Datagram[] | 'overrun', decode: (d: Datagram) => void) => {
      if (got === 'overrun') overrun = true;
      else for (const d of got) decode(d);
    };
    if (fds.bytes.readInt16LE(6) !== 0) {
      take(rtnl.drain(), (d) => {
        for (const m of d.messages) {
          const e = decodeRtnl(m, d.nsid);
          if (e) events.push(e);
        }
      });
    }
    if (fds.bytes.readInt16LE(14) !== 0) {
      take(nft.drain(), (d) => {
        for (const m of d.messages) {
          const e = generations.push(m, d.nsid);
          if (e) events.push(e);
        }
      });
    }
    if (events.length > 0) post({ kind: 'events', events });
    // Events were dropped: the daemon must assume anything changed.
    if (overrun) post({ kind: 'overrun' });
  }
  rtnl.close();
  nft.close();
} catch (e) {
  post({ kind: 'failed', message: e instanceof Error ? e.message : String(e) });
}
