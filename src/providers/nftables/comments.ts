import { sha256Hex } from '../../net/ids.js';
import type { NftStatement } from '../../nft/index.js';
import type { Owner } from '../../state/types.js';

/**
 * What weft keeps in nftables comments, the only tag nft 1.0.6 round-trips through JSON.
 * Rules: "weft:<name>#<digest>". The kernel lists a rule differently from how it was loaded
 * (it adds protocol matches, rewrites operators), so rules are compared by name and by the digest
 * of the statements weft loaded, never by their listed form.
 * Elements: "<owner kind>:<owner name>", so that orphans are told apart from stale elements.
 */

const RULE = /^weft:([^#]+)#([0-9a-f]{8})$/;

export function ruleDigest(expr: readonly NftStatement[]): string {
  return sha256Hex(JSON.stringify(expr)).slice(0, 8);
}

export function ruleComment(name: string, expr: readonly NftStatement[]): string {
  return `weft:${name}#${ruleDigest(expr)}`;
}

export function parseRuleComment(comment: string | undefined): { name: string; digest: string } | undefined {
  const m = comment ? RULE.exec(comment) : null;
  return m?.[1] && m[2] ? { name: m[1], digest: m[2] } : undefined;
}

export function elementComment(owner: Owner): string {
  return `${owner.kind}:${owner.name}`;
}

export function parseElementComment(comment: string | undefined): Owner | undefined {
  const colon = comment?.indexOf(':') ?? -1;
  if (!comment || colon < 0) return undefined;
  const kind = comment.slice(0, colon);
  if (kind !== 'container' && kind !== 'network' && kind !== 'host') return undefined;
  return { kind, name: comment.slice(colon + 1) };
}
