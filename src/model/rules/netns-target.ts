import type { Problem } from '../../errors.js';
import { problemAt, sub } from '../build.js';
import type { Model } from '../types.js';
import type { Rule } from './index.js';

/** A namespace by identity: the device and inode of its nsfs file (what stat(2) gives). */
export interface NsIdentity {
  dev: number;
  ino: number;
}

/** A namespace weft must never treat as a container's: the host it manages, the machine's own. */
export interface ProtectedNamespace {
  /** How the message names it, e.g. 'the host namespace "h1" (--host-netns)'. */
  label: string;
  id: NsIdentity;
}

/** The path weft enters for a container's `netns` (a bare NAME is /run/netns/NAME, as compile reads it). */
export function attachedNetnsPath(netns: string): string {
  return netns.startsWith('/') ? netns : `/run/netns/${netns}`;
}

/**
 * A container's `netns` must not be, by inode, a protected namespace: weft would add interfaces
 * there, replace its default route and set sysctls, taking over the host. The identities are read
 * by the caller (the CLI, from the kernel), so the rule stays pure. With `requireExisting` (plan,
 * apply), a namespace that does not exist is a problem too (NETNS_MISSING): weft attaches existing
 * namespaces only, and would otherwise fail midway; destroy does not ask (a gone one is fine).
 */
export function netnsTargets(
  protect: readonly ProtectedNamespace[],
  identityOf: (path: string) => NsIdentity | undefined,
  opts: { requireExisting?: boolean } = {},
): Rule {
  return (model: Model): Problem[] => {
    const out: Problem[] = [];
    for (const c of model.containers.values()) {
      // PID 1's path is refused from the text alone (field-values.ts): one problem is enough.
      if (c.netns === undefined || c.netns === '/proc/1/ns/net') continue;
      const path = attachedNetnsPath(c.netns);
      const id = identityOf(path);
      if (!id && opts.requireExisting) {
        out.push(problemAt(sub(c.src, 'spec', 'netns'), 'NETNS_MISSING', `container "${c.name}": netns ${JSON.stringify(c.netns)} does not exist (${path})`, 'start the container whose namespace this is first, or remove "netns" to let weft create one'));
        continue;
      }
      const hit = id && protect.find((p) => p.id.dev === id.dev && p.id.ino === id.ino);
      if (hit) {
        out.push(problemAt(sub(c.src, 'spec', 'netns'), 'NETNS_IS_HOST', `container "${c.name}": netns ${JSON.stringify(c.netns)} is ${hit.label}`, 'attach the namespace of a container, or remove "netns" to let weft create one'));
      }
    }
    return out;
  };
}
