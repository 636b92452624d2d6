import { MACHINE_NETNS, OWN_NETNS, namespaceIdentity } from '../kernel/netns-identity.js';
import { netnsTargets } from '../model/rules/netns-target.js';
import type { ProtectedNamespace } from '../model/rules/netns-target.js';
import type { Rule } from '../model/index.js';

/**
 * The rule that keeps a container's `netns` off the namespace weft manages as the host
 * (--host-netns NS, or this process's own without it) and off the machine's own, by inode. For
 * the commands that plan or write (apply, plan, destroy): it reads the kernel, so `validate`,
 * which looks at the text only, does not run it. `requireExisting`: an attached namespace that
 * does not exist is a problem too (plan and apply; destroy has nothing to do there).
 */
export function hostNamespaceRule(hostNetns: string | undefined, opts: { requireExisting?: boolean } = {}): Rule {
  const protect: ProtectedNamespace[] = [];
  const host = namespaceIdentity(hostNetns ? `/run/netns/${hostNetns}` : OWN_NETNS);
  if (host) protect.push({ label: hostNetns ? `the host namespace "${hostNetns}" (--host-netns)` : 'the host namespace weft manages (its own)', id: host });
  const machine = namespaceIdentity(MACHINE_NETNS);
  if (machine) protect.push({ label: "the machine's own namespace", id: machine });
  return netnsTargets(protect, namespaceIdentity, opts);
}
