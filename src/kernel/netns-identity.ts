import { statSync } from 'node:fs';

/** A namespace by identity: the device and inode of its nsfs file. */
export interface NsIdentity {
  dev: number;
  ino: number;
}

/**
 * The identity of the namespace at `path` (/run/netns/NAME, /proc/PID/ns/net), or undefined
 * when there is none. stat(2) follows the /proc symlink to the nsfs inode, so two paths to one
 * namespace give one identity. Reads the kernel.
 */
export function namespaceIdentity(path: string): NsIdentity | undefined {
  try {
    const s = statSync(path);
    return { dev: s.dev, ino: s.ino };
  } catch {
    return undefined;
  }
}

/** The machine's own namespace (PID 1's) and the one this process runs in. */
export const MACHINE_NETNS = '/proc/1/ns/net';
export const OWN_NETNS = '/proc/self/ns/net';

/** Whether two identities are the same namespace. */
export function sameNamespace(a: NsIdentity | undefined, b: NsIdentity | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}
