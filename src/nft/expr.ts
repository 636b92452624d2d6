import type { NftCtKey, NftExpr, NftFibFlag, NftMetaKey, NftOp, NftStatement } from './types.js';

/**
 * Builders for nftables JSON expressions and statements, so rules read close to nft's own text:
 * `match(meta('iifname'), '==', setRef('bridges'))` is `iifname @bridges`. Pure.
 */

export const meta = (key: NftMetaKey): NftExpr => ({ meta: { key } });
export const payload = (protocol: string, field: string): NftExpr => ({ payload: { protocol, field } });
export const ct = (key: NftCtKey): NftExpr => ({ ct: { key } });
export const fib = (result: 'oif' | 'oifname' | 'type', ...flags: NftFibFlag[]): NftExpr => ({ fib: { result, flags } });
export const concat = (...parts: NftExpr[]): NftExpr => ({ concat: parts });
export const prefix = (addr: string, len: number): NftExpr => ({ prefix: { addr, len } });
/** An anonymous set: `{ tcp, udp }`. */
export const anonSet = (...values: NftExpr[]): NftExpr => ({ set: values });
/** A reference to a named set or map: `@name`. */
export const setRef = (name: string): string => `@${name}`;
export const mapLookup = (key: NftExpr, mapName: string): NftExpr => ({ map: { key, data: setRef(mapName) } });
export const bitAnd = (a: NftExpr, b: NftExpr): NftExpr => ({ '&': [a, b] });

export const match = (left: NftExpr, op: NftOp, right: NftExpr): NftStatement => ({ match: { op, left, right } });
export const counter: NftStatement = { counter: null };
export const drop: NftStatement = { drop: null };
export const accept: NftStatement = { accept: null };
export const masquerade: NftStatement = { masquerade: null };

/** `ct status & dnat == 0`: the connection was not destination-NATed (not a published port). */
export const notDnat: NftStatement = match(bitAnd(ct('status'), 'dnat'), '==', 0);
/** `ct status dnat`: the connection was destination-NATed. */
export const isDnat: NftStatement = match(ct('status'), 'in', 'dnat');

/**
 * nft-like text of a value, for stable ids and plan lines: `0.0.0.0/0 . tcp . 8080`.
 * Element attributes (comments) are not part of the text.
 */
export function exprText(e: NftExpr): string {
  if (typeof e !== 'object') return String(e);
  if ('concat' in e) return e.concat.map(exprText).join(' . ');
  if ('prefix' in e) return `${e.prefix.addr}/${e.prefix.len}`;
  if ('range' in e) return `${exprText(e.range[0])}-${exprText(e.range[1])}`;
  if ('set' in e) return `{ ${e.set.map(exprText).join(', ')} }`;
  if ('elem' in e) return exprText(e.elem.val);
  return JSON.stringify(e);
}
