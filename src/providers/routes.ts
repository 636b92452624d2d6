import type { RouteEntry } from '../state/types.js';
import { HOST, ids } from '../state/types.js';
import { order } from './program-builder.js';
import { ownedLinks } from './ownership.js';
import type { Provider } from './types.js';

/** weft's routes carry this protocol number; routes with any other are never touched. */
export const WEFT_ROUTE_PROTO = 250;

const RANK = 3;

/** Routes weft adds (container default routes), tagged with protocol 250. */
export const routesProvider: Provider<'routes'> = {
  domain: 'routes',
  rank: RANK,
  recreateOn: ['family'],
  observe(obs, ctx) {
    const out: Record<string, RouteEntry> = {};
    // Routes on weft's links in container namespaces: those weft created, and attached ones
    // (spec.netns), where only weft's own links are weft's (keying by namespace ownership alone
    // missed every route in an attached namespace, so such an apply never converged).
    for (const [ns, links] of ownedLinks(obs, ctx)) {
      if (ns === HOST) continue;
      for (const r of obs.namespaces.get(ns)?.routes ?? []) {
        const owner = r.dev !== undefined ? links.get(r.dev) : undefined;
        if (r.protocol !== String(WEFT_ROUTE_PROTO) || r.table !== 'main' || !r.dev || !owner) continue;
        const e: RouteEntry = { ns, dst: r.dst, family: r.family, dev: r.dev, owner };
        if (r.gateway) e.via = r.gateway;
        out[ids.route(ns, r.family, r.dst)] = e;
      }
    }
    return out;
  },
  describe: (e) => ({ noun: 'route', name: `${e.dst === 'default' && e.family === 6 ? 'default (IPv6)' : e.dst}${e.via ? ` via ${e.via}` : ''} dev ${e.dev}${e.ns === HOST ? '' : ` in ${e.ns}`}` }),
  render(change, out, ctx) {
    const e = change.desired ?? change.observed;
    if (!e) return;
    const ns = ctx.nsRef(e.ns);
    const base = { family: e.family, dst: e.dst, dev: e.dev, proto: WEFT_ROUTE_PROTO, ...(e.via ? { via: e.via } : {}) };
    if (change.action === 'delete') {
      out.ip(ns, order.delete(RANK), { op: 'route-del', ...base, what: `deleting route ${e.dst}` });
    } else {
      out.ip(ns, order.create(RANK), { op: 'route-replace', ...base, what: `setting route ${e.dst}` });
    }
  },
};
