import type { Logger } from '../log.js';
import type { RejectReason, Rejection } from './trust.js';
import { REJECT_REASONS, clip } from './trust.js';

/** Distinct rejected records remembered (so each is logged and counted once); beyond it, forgotten. */
const REMEMBERED = 10_000;

/**
 * Where rejected store records go: one warning per distinct record (constant message, the
 * record's fields clipped) and a count per reason, for weft_store_endpoints_rejected_total.
 * A record still in the store at the next read is neither logged nor counted again.
 */
export class StoreRejections {
  private readonly counts = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  private seen = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** A value under the endpoints prefix that is not an endpoint (garbage, another layout). */
  malformed(key: string): void {
    this.add({ reason: 'malformed', detail: 'not an endpoint', key: clip(key, 200) });
  }

  add(r: Rejection): void {
    const id = JSON.stringify([r.reason, r.detail, r.key, r.node, r.network, r.container]);
    if (this.seen.has(id)) return;
    if (this.seen.size >= REMEMBERED) this.seen = new Set();
    this.seen.add(id);
    this.counts[r.reason]++;
    this.log.warn({ reason: r.reason, detail: r.detail, ...fields(r) }, 'store endpoint rejected');
  }

  /** Rejected records by reason, since the process started. */
  totals(): Record<RejectReason, number> {
    return { ...this.counts };
  }
}

function fields(r: Rejection): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['key', 'node', 'network', 'container'] as const) if (r[k] !== undefined) out[k] = r[k];
  return out;
}
