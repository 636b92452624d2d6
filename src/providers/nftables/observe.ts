import { hostOwner } from '../../naming.js';
import type { NftTableRef } from '../../kernel/index.js';
import { nftTableKey } from '../../kernel/index.js';
import type { NftChain, NftExpr, NftListed, NftMap, NftRule, NftSet, NftSetElem } from '../../nft/index.js';
import type { NftEntry, NftRuleEntry, NsKey, Owner } from '../../state/types.js';
import { HOST, ids } from '../../state/types.js';
import { ownedNamespaces } from '../ownership.js';
import type { Observation, ObserveContext } from '../types.js';
import { parseElementComment, parseRuleComment, ruleDigest } from './comments.js';

/**
 * Turns `nft -j list table` output into entries. weft's tables are weft's entirely, so every
 * object in them is observed (and whatever weft did not put there is deleted). A missing table is
 * an empty one. Read-only.
 */
export function observeNftables(obs: Observation, ctx: ObserveContext, tablesFor: (ns: NsKey) => NftTableRef[]): Record<string, NftEntry> {
  const out: Record<string, NftEntry> = {};
  const owned = ownedNamespaces(obs, ctx);
  const snapshots: [NsKey, Record<string, unknown[] | null>][] = obs.hostOutOfScope ? [] : [[HOST, obs.hostSnapshot.nft]];
  for (const [key, snap] of obs.namespaces) snapshots.push([key, snap.nft]);
  for (const [ns, tables] of snapshots) {
    for (const ref of tablesFor(ns)) {
      const listed = tables[nftTableKey(ref)] as NftListed[] | null | undefined;
      if (!listed) continue;
      const tableId = ids.nftTable(ns, ref.family, ref.name);
      const owner = ctx.desired.nftables[tableId]?.owner ?? (ns === HOST ? hostOwner(obs.hostNetns) : owned.get(ns));
      // A weft-named table in a namespace weft does not own is not weft's.
      if (!owner) continue;
      const { entries, handles } = tableEntries(ns, ref, listed, owner, ctx);
      Object.assign(out, entries);
      for (const [id, handle] of handles) ctx.nftRuleHandles?.set(id, handle);
    }
  }
  return out;
}

/**
 * A table listed once and observed many times (the daemon keeps a namespace's tables while only
 * its links change) is turned into entries once: they depend on the listing, the owner and the
 * desired rules, which are checked on every reuse.
 */
const tableMemo = new WeakMap<NftListed[], { ns: NsKey; owner: string; entries: Record<string, NftEntry>; handles: Map<string, number>; wants: Map<string, NftEntry | undefined> }>();

/** A table's entries by id, and its rules' kernel handles by id. */
function tableEntries(ns: NsKey, ref: NftTableRef, listed: NftListed[], owner: Owner, ctx: ObserveContext): { entries: Record<string, NftEntry>; handles: Map<string, number> } {
  const memo = tableMemo.get(listed);
  const ownerKey = `${owner.kind}/${owner.name}`;
  if (memo && memo.ns === ns && memo.owner === ownerKey && [...memo.wants].every(([id, want]) => ctx.desired.nftables[id] === want)) return memo;
  const entries: Record<string, NftEntry> = {};
  const handles = new Map<string, number>();
  const wants = new Map<string, NftEntry | undefined>();
  const listedHandles = new Map<NftEntry, number>();
  for (const e of listTableEntries(ns, ref, listed, owner, ctx, listedHandles)) {
    const id = ids.nft(e);
    entries[id] = e;
    const handle = listedHandles.get(e);
    if (handle !== undefined) handles.set(id, handle);
    if (e.kind === 'rule') wants.set(id, ctx.desired.nftables[id]);
  }
  tableMemo.set(listed, { ns, owner: ownerKey, entries, handles, wants });
  return { entries, handles };
}

function listTableEntries(ns: NsKey, ref: NftTableRef, listed: NftListed[], owner: Owner, ctx: ObserveContext, handles: Map<NftEntry, number>): NftEntry[] {
  const family = ref.family;
  const table = ref.name;
  const out: NftEntry[] = [];
  for (const obj of listed) {
    if ('table' in obj) out.push({ kind: 'table', ns, family, name: table, owner });
    else if ('chain' in obj) out.push(chainEntry(ns, obj.chain, owner));
    else if ('set' in obj) out.push(...setEntries(ns, obj.set, undefined, owner));
    else if ('map' in obj) out.push(...setEntries(ns, obj.map, obj.map.map, owner));
    else if ('rule' in obj) {
      const r = ruleEntry(ns, obj.rule, owner, ctx);
      if (obj.rule.handle !== undefined) handles.set(r, obj.rule.handle);
      // A second rule with the same name (copied by hand) is not the one weft loaded.
      if (out.some((x) => x.kind === 'rule' && x.chain === r.chain && x.name === r.name)) r.name = `handle ${obj.rule.handle ?? '?'}`;
      out.push(r);
    }
  }
  return out;
}

function chainEntry(ns: NsKey, c: NftChain, owner: Owner): NftEntry {
  const e: NftEntry = { kind: 'chain', ns, family: c.family, table: c.table, name: c.name, owner };
  if (c.type && c.hook) e.base = { type: c.type, hook: c.hook, prio: c.prio ?? 0, policy: c.policy ?? 'accept' };
  return e;
}

function setEntries(ns: NsKey, s: NftSet | NftMap, map: NftMap['map'] | undefined, owner: Owner): NftEntry[] {
  const base = { ns, family: s.family, table: s.table };
  const set: NftEntry = { kind: 'set', ...base, name: s.name, type: Array.isArray(s.type) ? s.type : [s.type], owner };
  if (map) set.map = map;
  if (s.flags && s.flags.length > 0) set.flags = [...s.flags].sort();
  const out: NftEntry[] = [set];
  for (const item of s.elem ?? []) {
    const { key, value, comment } = splitElem(item, map !== undefined);
    out.push({ kind: 'element', ...base, set: s.name, key, ...(value !== undefined ? { value } : {}), owner: parseElementComment(comment) ?? owner });
  }
  return out;
}

/** An element as listed: the key (maybe wrapped with its comment), or [key, value] in a map. */
function splitElem(item: NftSetElem, isMap: boolean): { key: NftExpr; value?: NftExpr; comment?: string } {
  let key: NftExpr;
  let value: NftExpr | undefined;
  if (isMap && Array.isArray(item)) [key, value] = item;
  else key = item as NftExpr;
  let comment: string | undefined;
  if (typeof key === 'object' && 'elem' in key) {
    comment = key.elem.comment;
    key = key.elem.val;
  }
  return { key, ...(value !== undefined ? { value } : {}), ...(comment !== undefined ? { comment } : {}) };
}

/**
 * A rule is named by its comment. When the digest in the comment matches the statements weft
 * wants, the rule is the one weft loaded: it is observed with those statements (the listed form
 * differs). Otherwise it keeps the listed form, which differs from anything desired.
 */
function ruleEntry(ns: NsKey, r: NftRule, owner: Owner, ctx: ObserveContext): NftRuleEntry {
  const tag = parseRuleComment(r.comment);
  const name = tag?.name ?? `handle ${r.handle ?? '?'}`;
  const e: NftRuleEntry = { kind: 'rule', ns, family: r.family, table: r.table, chain: r.chain, name, expr: r.expr, owner };
  const want = ctx.desired.nftables[ids.nft(e)];
  if (tag && want?.kind === 'rule' && ruleDigest(want.expr) === tag.digest) e.expr = want.expr;
  return e;
}
