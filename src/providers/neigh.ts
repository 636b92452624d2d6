import type { NeighEntry } from '../state/types.js';
import { HOST, ids } from '../state/types.js';
import { wantsOverlay } from './fdb.js';
import { order } from './program-builder.js';
import { ownedVxlans } from './ownership.js';
import { WEFT_ROUTE_PROTO } from './routes.js';
import type { Provider } from './types.js';

const RANK = 6;

/**
 * Permanent neighbour entries (remote container IP -> MAC) on weft's VXLAN devices, which answer
 * ARP and neighbour solicitations from them (the device's proxy flag), so nothing is flooded.
 * Tagged with protocol 250 like weft's routes, and owned through the device as well.
 */
export const neighProvider: Provider<'neigh'> = {
  domain: 'neigh',
  rank: RANK,
  recreateOn: [],
  hostReads: (desired) => ({ neighbours: wantsOverlay(desired) }),
  observe(obs) {
    const out: Record<string, NeighEntry> = {};
    const devices = ownedVxlans(obs);
    for (const n of obs.hostSnapshot.neighbours ?? []) {
      const owner = devices.get(n.dev);
      if (!owner || n.protocol !== String(WEFT_ROUTE_PROTO) || !n.state.includes('PERMANENT')) continue;
      out[ids.neigh(HOST, n.dev, n.address)] = { ns: HOST, dev: n.dev, address: n.address, lladdr: n.lladdr ?? '', owner };
    }
    return out;
  },
  describe: (e) => ({ noun: 'neigh', name: `${e.address} lladdr ${e.lladdr} on ${e.dev}` }),
  render(change, out, ctx) {
    const e = change.desired ?? change.observed;
    if (!e) return;
    const ns = ctx.nsRef(e.ns);
    if (change.action === 'delete') {
      out.ip(ns, order.delete(RANK), { op: 'neigh-del', dev: e.dev, address: e.address, what: `removing neighbour ${e.address}` });
    } else {
      out.ip(ns, order.create(RANK), { op: 'neigh-replace', dev: e.dev, address: e.address, lladdr: e.lladdr, proto: WEFT_ROUTE_PROTO, what: `setting neighbour ${e.address}` });
    }
  },
};
