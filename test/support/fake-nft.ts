import type { NftChain, NftCommand, NftExpr, NftFamily, NftListed, NftMap, NftRule, NftSet, NftSetElem, NftStatement } from '../../src/nft/index.js';

/**
 * nftables for the fake kernel: the commands weft loads with `nft -j -f` applied to an in-memory
 * ruleset, as one transaction (all or nothing), with the kernel's errors for what weft must get
 * right (objects in use, missing objects, elements of the wrong shape). `list()` answers like
 * `nft -j list table`, including the ways the listed form differs from what was loaded (counters
 * with values, an nfproto match in inet tables), so comparisons must be semantic.
 */

interface FakeSet {
  def: NftSet | NftMap;
  isMap: boolean;
  handle: number;
  /** canonical key -> element as listed */
  elems: Map<string, NftSetElem>;
}

interface FakeChain {
  def: NftChain;
  handle: number;
  rules: NftRule[];
}

export interface FakeTable {
  family: NftFamily;
  name: string;
  handle: number;
  nextHandle: number;
  sets: Map<string, FakeSet>;
  chains: Map<string, FakeChain>;
}

const ENOENT = 'Could not process rule: No such file or directory';
const EBUSY = 'Could not process rule: Device or resource busy';
const EEXIST = 'Could not process rule: File exists';

function unwrap(e: NftExpr): NftExpr {
  return typeof e === 'object' && 'elem' in e ? e.elem.val : e;
}

function elemKey(item: NftSetElem, isMap: boolean): string {
  const key = isMap && Array.isArray(item) ? item[0] : (item as NftExpr);
  return JSON.stringify(unwrap(key));
}

/** The set names a rule refers to ("@name" anywhere in it). */
function setRefs(expr: readonly NftStatement[]): string[] {
  return [...JSON.stringify(expr).matchAll(/"@([^"]+)"/g)].map((m) => m[1] ?? '');
}

/**
 * How nft 1.0.6 lists a rule: counters with values, `x & f == 0` as `x ! f`; and, as nft does for
 * some rules, an implied nfproto match in inet tables before matches on IPv4 fields.
 */
function asListed(rule: NftRule): NftRule {
  const expr: NftStatement[] = rule.expr.map((s) => {
    if ('counter' in s) return { counter: { packets: 0, bytes: 0 } };
    const m = 'match' in s ? s.match : undefined;
    if (m && m.op === '==' && m.right === 0 && typeof m.left === 'object' && '&' in m.left) return { match: { op: '!', left: m.left['&'][0], right: m.left['&'][1] } };
    return s;
  });
  if (rule.family === 'inet' && JSON.stringify(rule.expr).includes('"protocol":"ip"')) {
    expr.unshift({ match: { op: '==', left: { meta: { key: 'nfproto' } }, right: 'ipv4' } });
  }
  return { ...rule, expr };
}

export class FakeRuleset {
  tables = new Map<string, FakeTable>();
  private tableHandle = 1;

  /** Applies one transaction: every command or none. Throws with nft's message. */
  apply(commands: readonly unknown[]): void {
    const saved = this.tables;
    this.tables = structuredClone(this.tables);
    try {
      for (const c of commands as NftCommand[]) this.command(c);
    } catch (err) {
      this.tables = saved;
      throw err;
    }
  }

  list(key: string): NftListed[] | null {
    const t = this.tables.get(key);
    if (!t) return null;
    const out: NftListed[] = [{ table: { family: t.family, name: t.name, handle: t.handle } }];
    for (const s of t.sets.values()) {
      const def: NftSet | NftMap = { ...s.def, handle: s.handle };
      if (s.elems.size > 0) def.elem = [...s.elems.values()];
      out.push(s.isMap ? { map: def as NftMap } : { set: def });
    }
    for (const c of t.chains.values()) out.push({ chain: { ...c.def, handle: c.handle } });
    for (const c of t.chains.values()) for (const r of c.rules) out.push({ rule: asListed(r) });
    return out;
  }

  /** Test helper: removes the rule whose comment starts with `prefix` (an operator's `nft delete rule`). */
  deleteRule(key: string, chain: string, prefix: string): void {
    const c = this.tables.get(key)?.chains.get(chain);
    if (!c) throw new Error(`fake nft: no chain ${chain} in ${key}`);
    const before = c.rules.length;
    c.rules = c.rules.filter((r) => !r.comment?.startsWith(prefix));
    if (c.rules.length === before) throw new Error(`fake nft: no rule "${prefix}" in ${chain}`);
  }

  /** Test helper: every element of a set, as listed. */
  elements(key: string, set: string): NftSetElem[] {
    return [...(this.tables.get(key)?.sets.get(set)?.elems.values() ?? [])];
  }

  private table(family: string, name: string): FakeTable {
    const t = this.tables.get(`${family} ${name}`);
    if (!t) throw new Error(ENOENT);
    return t;
  }

  private command(c: NftCommand): void {
    if ('add' in c) return this.add(c.add);
    if ('delete' in c) return this.del(c.delete);
    if ('flush' in c && 'chain' in c.flush) {
      const ch = this.table(c.flush.chain.family, c.flush.chain.table).chains.get(c.flush.chain.name);
      if (!ch) throw new Error(ENOENT);
      ch.rules = [];
      return;
    }
    throw new Error(`fake nft: unsupported command ${JSON.stringify(c)}`);
  }

  private add(o: Extract<NftCommand, { add: unknown }>['add']): void {
    if ('table' in o) {
      const key = `${o.table.family} ${o.table.name}`;
      if (!this.tables.has(key)) {
        this.tables.set(key, { family: o.table.family, name: o.table.name, handle: this.tableHandle++, nextHandle: 1, sets: new Map(), chains: new Map() });
      }
      return;
    }
    if ('chain' in o) {
      const t = this.table(o.chain.family, o.chain.table);
      if (!t.chains.has(o.chain.name)) t.chains.set(o.chain.name, { def: { ...o.chain }, handle: t.nextHandle++, rules: [] });
      return;
    }
    if ('set' in o || 'map' in o) {
      const def = 'set' in o ? o.set : o.map;
      const t = this.table(def.family, def.table);
      if (t.sets.has(def.name)) return;
      const s: FakeSet = { def: { ...def }, isMap: 'map' in o, handle: t.nextHandle++, elems: new Map() };
      delete s.def.elem;
      t.sets.set(def.name, s);
      for (const item of def.elem ?? []) this.addElem(s, item);
      return;
    }
    if ('element' in o) {
      const s = this.table(o.element.family, o.element.table).sets.get(o.element.name);
      if (!s) throw new Error(ENOENT);
      for (const item of o.element.elem) this.addElem(s, item);
      return;
    }
    if ('rule' in o) {
      const t = this.table(o.rule.family, o.rule.table);
      const ch = t.chains.get(o.rule.chain);
      if (!ch) throw new Error(ENOENT);
      for (const name of setRefs(o.rule.expr)) if (!t.sets.has(name)) throw new Error(ENOENT);
      ch.rules.push({ ...structuredClone(o.rule), handle: t.nextHandle++ });
    }
  }

  private addElem(s: FakeSet, item: NftSetElem): void {
    if (s.isMap !== Array.isArray(item)) throw new Error(s.isMap ? 'Error: map elements need a value' : 'Error: set is not a map');
    const key = elemKey(item, s.isMap);
    const had = s.elems.get(key);
    if (had !== undefined) {
      if (s.isMap && JSON.stringify((had as NftExpr[])[1]) !== JSON.stringify((item as NftExpr[])[1])) throw new Error(EEXIST);
      return;
    }
    s.elems.set(key, structuredClone(item));
  }

  private del(o: Extract<NftCommand, { delete: unknown }>['delete']): void {
    if ('table' in o) {
      const key = `${o.table.family} ${o.table.name}`;
      if (!this.tables.delete(key)) throw new Error(ENOENT);
      return;
    }
    if ('chain' in o) {
      const t = this.table(o.chain.family, o.chain.table);
      const ch = t.chains.get(o.chain.name);
      if (!ch) throw new Error(ENOENT);
      if (ch.rules.length > 0) throw new Error(EBUSY);
      t.chains.delete(o.chain.name);
      return;
    }
    if ('set' in o || 'map' in o) {
      const ref = 'set' in o ? o.set : o.map;
      const t = this.table(ref.family, ref.table);
      if (!t.sets.has(ref.name)) throw new Error(ENOENT);
      for (const ch of t.chains.values()) for (const r of ch.rules) if (setRefs(r.expr).includes(ref.name)) throw new Error(EBUSY);
      t.sets.delete(ref.name);
      return;
    }
    if ('rule' in o) {
      const ch = this.table(o.rule.family, o.rule.table).chains.get(o.rule.chain);
      const before = ch?.rules.length;
      if (!ch) throw new Error(ENOENT);
      ch.rules = ch.rules.filter((r) => r.handle !== o.rule.handle);
      if (ch.rules.length === before) throw new Error(ENOENT);
      return;
    }
    if ('element' in o) {
      const s = this.table(o.element.family, o.element.table).sets.get(o.element.name);
      if (!s) throw new Error(ENOENT);
      for (const item of o.element.elem) {
        if (!s.elems.delete(JSON.stringify(unwrap(item as NftExpr)))) throw new Error(ENOENT);
      }
    }
  }
}
