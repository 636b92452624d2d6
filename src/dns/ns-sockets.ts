import { closeSync } from 'node:fs';
import { EMBEDDED_DNS_ADDRESS } from '../compile/index.js';
import { WeftError } from '../errors.js';
import type { Kernel } from '../kernel/index.js';
import { netnsKey, watchNetnsNames } from '../kernel/index.js';
import type { OpenedSockets, SocketSource } from './server.js';

/** The embedded DNS's port inside each container namespace. */
export const DNS_PORT = 53;

/**
 * The sockets of the embedded DNS as Docker makes them: bound to 127.0.0.11:53 inside each
 * container's namespace by the kernel's namespace worker (this thread never calls setns) and
 * handed over as descriptors. A namespace whose name is removed or reused gets its sockets closed
 * (they would keep it alive). Throws DNS_KERNEL for a kernel that cannot open sockets in namespaces.
 */
export function namespaceSockets(kernel: Kernel, port = DNS_PORT): SocketSource {
  const open = kernel.openDnsSockets?.bind(kernel);
  if (!open) throw new WeftError('DNS_KERNEL', 'this kernel cannot open sockets inside namespaces: the embedded DNS needs it');
  return {
    async open(client) {
      const s = await open(client.netns, EMBEDDED_DNS_ADDRESS, port);
      return s ? { udp: { fd: s.udp }, tcp: { fd: s.tcp }, key: s.key } : null;
    },
    current: (client, key) => key !== undefined && netnsKey(client.netns) === key,
    discard(s: Partial<OpenedSockets>) {
      for (const h of [s.udp, s.tcp]) if (h && 'fd' in h) closeSync(h.fd);
    },
    watch(changed) {
      // Events name files under /run/netns; attached namespaces (/proc paths) are checked on any.
      return watchNetnsNames((name) => changed(name === null ? null : `/run/netns/${name}`));
    },
  };
}
