import { DNS_REDIRECT_TABLE } from '../compile/index.js';
import { nftTableKey } from '../kernel/index.js';
import type { DnsRedirectEntry } from '../state/types.js';
import { HOST, ids } from '../state/types.js';
import { ownedNamespaces } from './ownership.js';
import type { Provider } from './types.js';

type NftObject = Record<string, unknown>;

const table = { family: DNS_REDIRECT_TABLE.family, name: DNS_REDIRECT_TABLE.name };

/** `nft -j list` output without the handles the kernel adds, so it compares with what weft loads. */
function withoutHandle(o: NftObject): NftObject {
  const [kind, body] = Object.entries(o)[0] ?? [];
  if (!kind || typeof body !== 'object' || body === null) return o;
  const { handle: _handle, ...rest } = body as NftObject;
  return { [kind]: rest };
}

function gatewayOf(rules: NftObject[]): string {
  for (const r of rules) {
    const expr = ((r['rule'] as NftObject | undefined)?.['expr'] ?? []) as NftObject[];
    const dnat = expr.find((e) => 'dnat' in e)?.['dnat'] as { addr?: unknown } | undefined;
    if (typeof dnat?.addr === 'string') return dnat.addr;
  }
  return '';
}

/**
 * The per-container nftables table `ip weft_dns` that sends 127.0.0.11:53 to the embedded DNS
 * server. Observed whole and replaced whole in one transaction (add, delete, add: the delete
 * cannot fail), in the container namespace's single write process.
 */
export const dnsRedirectsProvider: Provider<'dnsRedirects'> = {
  domain: 'dnsRedirects',
  rank: 6,
  recreateOn: [],
  nftTables: (ns) => (ns === HOST ? [] : [table]),
  observe(obs, ctx) {
    const out: Record<string, DnsRedirectEntry> = {};
    const owned = ownedNamespaces(obs, ctx);
    for (const [key, snap] of obs.namespaces) {
      const objects = snap.nft[nftTableKey(table)];
      if (!objects) continue;
      // Attached namespaces are not weft's, but a table named weft_dns in one is.
      const owner = owned.get(key) ?? ctx.desired.dnsRedirects[ids.dnsRedirect(key)]?.owner;
      if (!owner) continue;
      const clean = (objects as NftObject[]).map(withoutHandle);
      const chains = clean.filter((o) => 'chain' in o);
      const rules = clean.filter((o) => 'rule' in o);
      out[ids.dnsRedirect(key)] = { ns: key, gateway: gatewayOf(rules), chains, rules, owner };
    }
    return out;
  },
  describe: (e) => ({ noun: 'dns redirect', name: `127.0.0.11:53 -> ${e.gateway || '?'}:53 in ${e.ns}` }),
  render(change, out, ctx) {
    const e = change.desired ?? change.observed;
    if (!e) return;
    const ns = ctx.nsRef(e.ns);
    const t = { table: { family: table.family, name: table.name } };
    if (change.action === 'delete') {
      out.nft(ns, [{ delete: t }]);
      return;
    }
    const d = change.desired;
    if (!d) return;
    out.nft(ns, [{ add: t }, { delete: t }, { add: t }, ...[...d.chains, ...d.rules].map((o) => ({ add: o }))]);
  },
};
