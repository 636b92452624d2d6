import { netnsName, parseAlias } from '../naming.js';
import type { KLink, NsSnapshot } from '../kernel/index.js';
import type { NsKey, Owner } from '../state/types.js';
import { HOST } from '../state/types.js';
import type { Observation, ObserveContext } from './types.js';

/*
 * Several providers ask the same questions of one observation pass (which namespaces, links and
 * veths are weft's): each is answered once per pass. Observations and their context are never
 * changed once made; the answers are shared and read-only.
 */
const namespacesMemo = new WeakMap<Observation, WeakMap<ObserveContext, ReadonlyMap<NsKey, Owner>>>();
const linksMemo = new WeakMap<Observation, WeakMap<ObserveContext, ReadonlyMap<NsKey, ReadonlyMap<string, Owner>>>>();
const vethsMemo = new WeakMap<Observation, readonly OwnedVeth[]>();

function memo<T>(table: WeakMap<Observation, WeakMap<ObserveContext, T>>, obs: Observation, ctx: ObserveContext, make: () => T): T {
  let byCtx = table.get(obs);
  if (!byCtx) table.set(obs, (byCtx = new WeakMap()));
  let out = byCtx.get(ctx);
  if (out === undefined) byCtx.set(ctx, (out = make()));
  return out;
}

/**
 * Which observed objects are weft's. Links carry an ifalias tag; a namespace is weft's when its
 * loopback carries "weft:ctr=<name>;host=<host key>". Everything else is never touched.
 */

export function hostLinkOwner(link: KLink): Owner | undefined {
  const tag = parseAlias(link.alias);
  if (!tag) return undefined;
  if (tag['ctr']) return { kind: 'container', name: tag['ctr'] };
  if (tag['net']) return { kind: 'network', name: tag['net'] };
  return undefined;
}

/** The container a link inside a namespace belongs to, by its "weft:ctr=<c>;net=<n>" tag (macvlans). */
export function endpointOwner(link: KLink): Owner | undefined {
  const tag = parseAlias(link.alias);
  return tag?.['ctr'] && tag['net'] ? { kind: 'container', name: tag['ctr'] } : undefined;
}

/**
 * An untagged namespace holds nothing but what weft puts in a namespace before tagging it: an
 * untagged loopback that is down, the container ends of weft's own veths, no addresses.
 */
function holdsOnlyOurs(s: NsSnapshot, peerIndexes: ReadonlySet<number>): boolean {
  const loose = (l: KLink) => (l.name === 'lo' && !l.up && !l.alias) || (l.kind === 'veth' && l.linkIndex !== undefined && peerIndexes.has(l.linkIndex));
  return s.links.every(loose) && s.addresses.length === 0;
}

/**
 * Namespaces weft created (owned), by key, with their owning container. Never a guess:
 * - its loopback carries weft's tag for this host and this name; or
 * - weft recorded its intent to create it and crashed before tagging it (Kernel.netnsIntents),
 *   and it holds nothing weft did not put there; or
 * - it holds the container end of at least one of weft's tagged veths, and nothing else.
 * Any other namespace with a name weft wants, empty or not, is someone else's: a conflict.
 */
export function ownedNamespaces(obs: Observation, ctx: ObserveContext): ReadonlyMap<NsKey, Owner> {
  return memo(namespacesMemo, obs, ctx, () => findOwnedNamespaces(obs, ctx));
}

function findOwnedNamespaces(obs: Observation, ctx: ObserveContext): Map<NsKey, Owner> {
  const out = new Map<NsKey, Owner>();
  for (const [key, snap] of obs.namespaces) {
    const lo = snap.links.find((l) => l.name === 'lo');
    const tag = parseAlias(lo?.alias);
    if (tag?.['ctr'] && (tag['host'] ?? '') === obs.hostNetns && key === netnsName(obs.hostNetns, tag['ctr'])) {
      out.set(key, { kind: 'container', name: tag['ctr'] });
      continue;
    }
    const owner = ctx.desired.netns[key]?.owner ?? untaggedOwner(obs, key);
    if (!owner || tag) continue;
    const peers = ourVethIndexes(obs, key);
    const proven = obs.netnsIntents.has(key) || snap.links.some((l) => l.kind === 'veth' && l.linkIndex !== undefined && peers.has(l.linkIndex));
    if (proven && holdsOnlyOurs(snap, peers)) out.set(key, owner);
  }
  return out;
}

/** The container an untagged namespace would be weft's for, by its name (for one left by a crash and no longer wanted). */
function untaggedOwner(obs: Observation, key: NsKey): Owner | undefined {
  const prefix = obs.hostNetns ? `${obs.hostNetns}-` : '';
  return key.startsWith(prefix) && key.length > prefix.length ? { kind: 'container', name: key.slice(prefix.length) } : undefined;
}

/** The host ifindexes of weft's veths whose container end belongs in namespace `key`. */
function ourVethIndexes(obs: Observation, key: NsKey): Set<number> {
  const out = new Set<number>();
  for (const link of obs.hostSnapshot.links) {
    const tag = link.kind === 'veth' ? parseAlias(link.alias) : undefined;
    if (tag?.['ctr'] && tag['net'] && netnsName(obs.hostNetns, tag['ctr']) === key) out.add(link.ifindex);
  }
  return out;
}

/** Host veths that are weft's, with the container-side link they pair with (if found). */
export function ownedVeths(obs: Observation): readonly OwnedVeth[] {
  let out = vethsMemo.get(obs);
  if (!out) vethsMemo.set(obs, (out = findOwnedVeths(obs)));
  return out;
}

interface OwnedVeth {
  host: KLink;
  owner: Owner;
  peerNs: NsKey;
  peer?: KLink;
}

function findOwnedVeths(obs: Observation): OwnedVeth[] {
  const out: OwnedVeth[] = [];
  for (const link of obs.hostSnapshot.links) {
    if (link.kind !== 'veth') continue;
    const tag = parseAlias(link.alias);
    if (!tag?.['ctr'] || !tag['net']) continue;
    const peerNs = netnsName(obs.hostNetns, tag['ctr']);
    const peer = (obs.allNamespaces ?? obs.namespaces).get(peerNs)?.links.find((l) => l.kind === 'veth' && l.linkIndex === link.ifindex);
    out.push({ host: link, owner: { kind: 'container', name: tag['ctr'] }, peerNs, ...(peer ? { peer } : {}) });
  }
  return out;
}

/** Owned links per namespace (host links by tag; container links of owned namespaces; peers in attached ones). */
export function ownedLinks(obs: Observation, ctx: ObserveContext): ReadonlyMap<NsKey, ReadonlyMap<string, Owner>> {
  return memo(linksMemo, obs, ctx, () => findOwnedLinks(obs, ctx));
}

function findOwnedLinks(obs: Observation, ctx: ObserveContext): Map<NsKey, Map<string, Owner>> {
  const out = new Map<NsKey, Map<string, Owner>>();
  const put = (ns: NsKey, name: string, owner: Owner) => {
    let m = out.get(ns);
    if (!m) out.set(ns, (m = new Map()));
    m.set(name, owner);
  };
  for (const link of obs.hostSnapshot.links) {
    const owner = hostLinkOwner(link);
    if (owner) put(HOST, link.name, owner);
  }
  const owned = ownedNamespaces(obs, ctx);
  for (const [key, owner] of owned) {
    const plugins = ctx.pluginLinks?.get(key);
    for (const l of obs.namespaces.get(key)?.links ?? []) if (!plugins?.has(l.name)) put(key, l.name, owner);
  }
  for (const v of ownedVeths(obs)) if (v.peer && !owned.has(v.peerNs)) put(v.peerNs, v.peer.name, v.owner);
  // Tagged interfaces in attached namespaces (macvlans weft created there).
  for (const [key, snap] of obs.namespaces) {
    if (owned.has(key)) continue;
    for (const l of snap.links) {
      const owner = endpointOwner(l);
      if (owner) put(key, l.name, owner);
    }
  }
  return out;
}

/** weft's VXLAN devices in the host namespace, by name, with their owning network. */
export function ownedVxlans(obs: Observation): Map<string, Owner> {
  const out = new Map<string, Owner>();
  for (const l of obs.hostSnapshot.links) {
    const owner = l.kind === 'vxlan' ? hostLinkOwner(l) : undefined;
    if (owner) out.set(l.name, owner);
  }
  return out;
}
