import type { NsRef } from '../../kernel/index.js';
import type { NftCommand, NftElements, NftObjectName, NftSetElem } from '../../nft/index.js';
import type { NftElementEntry, NftEntry, NftRuleEntry, NftSetEntry } from '../../state/types.js';
import { ids } from '../../state/types.js';
import type { ProgramBuilder } from '../program-builder.js';
import type { Change, ProgramRenderContext } from '../types.js';
import { elementComment, ruleComment } from './comments.js';

/**
 * Renders nftables changes as commands of the namespace's one `nft -j -f` transaction. The order
 * inside the transaction comes from these keys, whatever order the changes arrive in: rules go
 * before the sets and chains they use are deleted, and come after those are added.
 *
 * Only what changed is touched: an element is one element, a rule one rule (added at the end of
 * its chain, which is why a chain's rules must not depend on their order), so counters and
 * connections survive. Chains and sets created again are filled again: their unchanged rules and
 * elements are not in the plan.
 */
const ORDER = { flush: -5, deleteRule: -5, deleteElement: -4, deleteSet: -3, deleteChain: -2, deleteTable: -1, addTable: 1, addChain: 2, addSet: 3, addElement: 4, addRule: 5 };

/** What one program build already did, so nothing is flushed, refilled or added twice. */
interface Memo {
  refilled: Set<string>;
  added: Set<string>;
  batches: Map<string, NftElements>;
  rulesByChain?: Map<string, NftRuleEntry[]>;
}

/** This provider's part of the program's memo (ProgramRenderContext.memo). */
function memoOf(ctx: ProgramRenderContext): Memo {
  let m = ctx.memo.get('nftables') as Memo | undefined;
  if (!m) ctx.memo.set('nftables', (m = { refilled: new Set(), added: new Set(), batches: new Map() }));
  return m;
}

type Entry = NftEntry;

function named(e: Exclude<Entry, { kind: 'table' }>, name: string): NftObjectName {
  return { family: e.family, table: e.table, name };
}

function tableId(e: Entry): string {
  return ids.nftTable(e.ns, e.family, e.kind === 'table' ? e.name : e.table);
}

function chainId(e: NftRuleEntry): string {
  return `${tableId(e)}/chain ${e.chain}`;
}

function setId(e: NftElementEntry): string {
  return `${tableId(e)}/set ${e.set}`;
}

export function renderNft(change: Change<Entry>, out: ProgramBuilder, ctx: ProgramRenderContext): void {
  const e = change.desired ?? change.observed;
  if (!e) return;
  const r = new Renderer(out, ctx, ctx.nsRef(e.ns));
  if (change.action !== 'create' && change.observed) r.delete(change.observed);
  if (change.action !== 'delete' && change.desired) r.create(change.desired);
}

class Renderer {
  private readonly memo: Memo;

  constructor(
    private readonly out: ProgramBuilder,
    private readonly ctx: ProgramRenderContext,
    private readonly ns: NsRef,
  ) {
    this.memo = memoOf(ctx);
  }

  private push(order: number, command: NftCommand): void {
    this.out.nft(this.ns, [command], order);
  }

  private desired(id: string): Entry | undefined {
    return this.ctx.desired.nftables[id];
  }

  delete(e: Entry): void {
    if (e.kind === 'table') {
      this.push(ORDER.deleteTable, { delete: { table: { family: e.family, name: e.name } } });
      return;
    }
    // What is in a table that goes is not rendered (the plan marks it implied).
    switch (e.kind) {
      case 'chain':
        this.push(ORDER.flush, { flush: { chain: named(e, e.name) } });
        this.push(ORDER.deleteChain, { delete: { chain: named(e, e.name) } });
        return;
      case 'set':
        // Rules that use the set must go first: refill every chain of the table.
        for (const c of Object.values(this.ctx.observed.nftables)) {
          if (c.kind === 'chain' && tableId(c) === tableId(e)) this.refill(ids.nft(c));
        }
        this.push(ORDER.deleteSet, { delete: e.map ? { map: named(e, e.name) } : { set: named(e, e.name) } });
        return;
      case 'element':
        // Also when its set goes: the set may be an orphan that stays while the element's owner does not.
        this.batch('delete', e).elem.push(e.key);
        return;
      case 'rule': {
        const handle = this.ctx.nftRuleHandles?.get(ids.nft(e));
        // A chain that goes or is refilled loses the rule anyway.
        if (!this.desired(chainId(e)) || this.memo.refilled.has(chainId(e))) return;
        if (handle === undefined) this.refill(chainId(e));
        else this.push(ORDER.deleteRule, { delete: { rule: { family: e.family, table: e.table, chain: e.chain, handle } } });
        return;
      }
    }
  }

  create(e: Entry): void {
    switch (e.kind) {
      case 'table':
        this.push(ORDER.addTable, { add: { table: { family: e.family, name: e.name } } });
        return;
      case 'chain':
        this.push(ORDER.addChain, { add: { chain: { family: e.family, table: e.table, name: e.name, ...(e.base ?? {}) } } });
        for (const r of this.rulesOf(ids.nft(e))) this.addRule(r);
        return;
      case 'set':
        this.addSet(e);
        return;
      case 'element':
        this.addElement(e);
        return;
      case 'rule':
        this.addRule(e);
        return;
    }
  }

  private addSet(e: NftSetEntry): void {
    const spec = { family: e.family, table: e.table, name: e.name, type: e.type.length === 1 ? e.type[0]! : e.type, ...(e.flags ? { flags: e.flags } : {}) };
    this.push(ORDER.addSet, { add: e.map ? { map: { ...spec, map: e.map } } : { set: spec } });
    const id = ids.nft(e);
    for (const x of Object.values(this.ctx.desired.nftables)) {
      if (x.kind === 'element' && setId(x) === id) this.addElement(x);
    }
  }

  private addElement(e: NftElementEntry): void {
    if (!this.once(ids.nft(e))) return;
    const key = { elem: { val: e.key, comment: elementComment(e.owner) } };
    const item: NftSetElem = e.value !== undefined ? [key, e.value] : key;
    this.batch('add', e).elem.push(item);
  }

  private addRule(r: NftRuleEntry): void {
    if (!this.once(ids.nft(r))) return;
    this.push(ORDER.addRule, { add: { rule: { family: r.family, table: r.table, chain: r.chain, comment: ruleComment(r.name, r.expr), expr: r.expr } } });
  }

  /** True the first time an id is added in this program. */
  private once(id: string): boolean {
    if (this.memo.added.has(id)) return false;
    this.memo.added.add(id);
    return true;
  }

  /** One add (or delete) command per set, holding all its elements: one command, not thousands. */
  private batch(verb: 'add' | 'delete', e: NftElementEntry): NftElements {
    const key = `${verb} ${setId(e)}`;
    let b = this.memo.batches.get(key);
    if (!b) {
      b = { family: e.family, table: e.table, name: e.set, elem: [] };
      this.memo.batches.set(key, b);
      this.push(verb === 'add' ? ORDER.addElement : ORDER.deleteElement, verb === 'add' ? { add: { element: b } } : { delete: { element: b } });
    }
    return b;
  }

  /** Empties a chain that stays and loads its desired rules again (the flush runs before any add). */
  private refill(id: string): void {
    const chain = this.ctx.observed.nftables[id];
    if (this.memo.refilled.has(id) || chain?.kind !== 'chain' || !this.desired(id)) return;
    this.memo.refilled.add(id);
    this.push(ORDER.flush, { flush: { chain: named(chain, chain.name) } });
    for (const r of this.rulesOf(id)) this.addRule(r);
  }

  private rulesOf(id: string): NftRuleEntry[] {
    if (!this.memo.rulesByChain) {
      const m = new Map<string, NftRuleEntry[]>();
      for (const x of Object.values(this.ctx.desired.nftables)) {
        if (x.kind === 'rule') m.set(chainId(x), [...(m.get(chainId(x)) ?? []), x]);
      }
      this.memo.rulesByChain = m;
    }
    return this.memo.rulesByChain.get(id) ?? [];
  }
}
