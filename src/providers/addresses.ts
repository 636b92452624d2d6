import type { AddressEntry } from '../state/types.js';
import { HOST, ids } from '../state/types.js';
import { order } from './program-builder.js';
import { ownedLinks } from './ownership.js';
import type { Provider } from './types.js';

const RANK = 2;

/** IPv4 and IPv6 addresses on weft's links. Link-local addresses are the kernel's and ignored. */
export const addressesProvider: Provider<'addresses'> = {
  domain: 'addresses',
  rank: RANK,
  recreateOn: [],
  observe(obs, ctx) {
    const out: Record<string, AddressEntry> = {};
    for (const [ns, links] of ownedLinks(obs, ctx)) {
      const snap = ns === HOST ? obs.hostSnapshot : obs.namespaces.get(ns);
      for (const a of snap?.addresses ?? []) {
        const owner = links.get(a.dev);
        if (!owner || a.dev === 'lo' || a.scope !== 'global') continue;
        const cidr = `${a.local}/${a.prefixlen}`;
        out[ids.address(ns, a.dev, cidr)] = { ns, dev: a.dev, cidr, ...(a.nodad ? { nodad: true } : {}), owner };
      }
    }
    return out;
  },
  describe: (e) => ({ noun: 'address', name: `${e.cidr} on ${e.dev}${e.ns === HOST ? '' : ` in ${e.ns}`}` }),
  render(change, out, ctx) {
    const e = change.desired ?? change.observed;
    if (!e) return;
    const ns = ctx.nsRef(e.ns);
    if (change.action === 'delete') {
      out.ip(ns, order.delete(RANK), { op: 'addr-del', dev: e.dev, cidr: e.cidr, what: `removing address ${e.cidr} from ${e.dev}` });
    } else if (change.action === 'create') {
      out.ip(ns, order.create(RANK), { op: 'addr-add', dev: e.dev, cidr: e.cidr, ...nodad(e), what: `adding address ${e.cidr} to ${e.dev}` });
    } else if (change.fields.includes('nodad')) {
      // Flags change in place (a delete would take the routes through the address with it).
      out.ip(ns, order.create(RANK), { op: 'addr-replace', dev: e.dev, cidr: e.cidr, ...nodad(e), what: `setting the flags of address ${e.cidr} on ${e.dev}` });
    }
  },
};

function nodad(e: AddressEntry): { nodad?: boolean } {
  return e.nodad ? { nodad: true } : {};
}
