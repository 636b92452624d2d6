import type { KLink, NsSnapshot } from '../kernel/index.js';
import type { KernelState, LinkEntry, NsKey } from '../state/types.js';
import { HOST, ids } from '../state/types.js';

/**
 * Links that weft created but never tagged: a crash between `ip link add` and the `link set
 * alias` that follows (the kernel ignores an alias given to `link add`). Such a link is weft's
 * only when everything about it is exactly what weft would create: a name of weft's own hashed
 * form (a name a user chose, like docker0, is never enough), the kind, and what ties it to the
 * rest: a veth's peer in the expected namespace under the expected name, a VXLAN device's VNI and
 * port, a macvlan's parent. Anything else keeps being someone else's (a conflict).
 */

const HASHED: Partial<Record<LinkEntry['kind'], RegExp>> = {
  bridge: /^br-[0-9a-f]{12}$/,
  vxlan: /^vx-[0-9a-f]{12}$/,
  veth: /^veth[0-9a-f]{7}$/,
};

/** Whether untagged `l` in namespace `ns` is exactly the link weft wants as `d`. */
function isExactlyOurs(l: KLink, d: LinkEntry, hostLinks: readonly KLink[], namespaces: ReadonlyMap<NsKey, NsSnapshot>): boolean {
  if (l.kind !== d.kind || l.name !== d.name) return false;
  const hashed = HASHED[d.kind];
  switch (d.kind) {
    case 'bridge':
      // Tagged in the same line that brings it up: an untagged one is still down.
      return hashed!.test(l.name) && !l.up;
    case 'vxlan':
      return hashed!.test(l.name) && Number(l.info?.['id']) === d.vni && Number(l.info?.['port']) === d.dstport;
    case 'veth': {
      if (!hashed!.test(l.name)) return false;
      const peer = namespaces.get(d.peer.ns)?.links.find((p) => p.kind === 'veth' && p.linkIndex === l.ifindex && p.name === d.peer.name);
      return peer !== undefined && l.linkIndex === peer.ifindex;
    }
    case 'macvlan':
      // Created by name straight into its namespace from the host; tagged there afterwards.
      return hostLinks.find((h) => h.ifindex === l.linkIndex)?.name === d.parent && l.info?.['mode'] === d.mode;
    default:
      return false;
  }
}

/**
 * The snapshots with weft's tag given to the untagged links that are provably weft's, marked
 * `untagged` so the links provider still sees the tag missing and writes it. Pure: the input
 * snapshots (shared with the kernel's cache) are not changed.
 */
export function claimUntaggedLinks(
  hostSnapshot: NsSnapshot,
  namespaces: ReadonlyMap<NsKey, NsSnapshot>,
  desired: KernelState,
  /** Where a veth's peer is looked up (a scoped observation claims in fewer namespaces than it knows). */
  lookup: ReadonlyMap<NsKey, NsSnapshot> = namespaces,
): { hostSnapshot: NsSnapshot; namespaces: Map<NsKey, NsSnapshot> } {
  const claim = (ns: NsKey, snap: NsSnapshot): NsSnapshot => {
    let changed = false;
    const links = snap.links.map((l) => {
      if (l.alias) return l;
      const d = desired.links[ids.link(ns, l.name)] as LinkEntry | undefined;
      if (!d || !('alias' in d) || d.kind === 'loopback' || !isExactlyOurs(l, d, hostSnapshot.links, lookup)) return l;
      changed = true;
      return { ...l, alias: d.alias, untagged: true };
    });
    return changed ? { ...snap, links } : snap;
  };
  const out = new Map<NsKey, NsSnapshot>();
  for (const [ns, snap] of namespaces) out.set(ns, claim(ns, snap));
  return { hostSnapshot: claim(HOST, hostSnapshot), namespaces: out };
}
