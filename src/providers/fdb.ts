import type { FdbEntry, KernelState } from '../state/types.js';
import { HOST, ids } from '../state/types.js';
import { ownedVxlans } from './ownership.js';
import type { Provider } from './types.js';

const RANK = 6;

/** The host reads forwarding entries only where weft wants VXLAN devices. */
export function wantsOverlay(desired: KernelState): boolean {
  let wants = overlayIndex.get(desired.links);
  if (wants === undefined) overlayIndex.set(desired.links, (wants = Object.values(desired.links).some((l) => l.kind === 'vxlan')));
  return wants;
}

// Asked once per observation pass (twice: fdb and neighbours); the daemon's drift passes reuse one desired state.
const overlayIndex = new WeakMap<KernelState['links'], boolean>();

/**
 * Static forwarding entries on weft's VXLAN devices: a remote MAC (or 00:00:00:00:00:00 for
 * broadcast) to a peer's underlay address. bridge 6.1 cannot tag an entry, so entries are owned
 * through the device they sit on: every "self" entry with a destination on a weft VXLAN device.
 */
export const fdbProvider: Provider<'fdb'> = {
  domain: 'fdb',
  rank: RANK,
  recreateOn: [],
  hostReads: (desired) => ({ fdb: wantsOverlay(desired) }),
  observe(obs) {
    const out: Record<string, FdbEntry> = {};
    const devices = ownedVxlans(obs);
    for (const f of obs.hostSnapshot.fdb ?? []) {
      const owner = devices.get(f.dev);
      if (!owner || f.dst === undefined || !f.flags.includes('self')) continue;
      out[ids.fdb(HOST, f.dev, f.mac, f.dst)] = { ns: HOST, dev: f.dev, mac: f.mac, dst: f.dst, owner };
    }
    return out;
  },
  describe: (e) => ({ noun: 'fdb', name: `${e.mac} dst ${e.dst} on ${e.dev}` }),
  render(change, out, ctx) {
    const e = change.desired ?? change.observed;
    if (!e || change.action === 'update') return;
    const base = { dev: e.dev, mac: e.mac, dst: e.dst };
    if (change.action === 'delete') out.fdb(ctx.nsRef(e.ns), { op: 'fdb-del', ...base, what: `removing forwarding entry ${e.mac} -> ${e.dst}` });
    else out.fdb(ctx.nsRef(e.ns), { op: 'fdb-append', ...base, what: `adding forwarding entry ${e.mac} -> ${e.dst}` });
  },
};
