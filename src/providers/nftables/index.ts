import { FIREWALL_TABLE, LEGACY_DNS_TABLE } from '../../naming.js';
import type { NftTableRef, NsSnapshot } from '../../kernel/index.js';
import { exprText } from '../../nft/index.js';
import { HOST } from '../../state/types.js';
import type { NsKey } from '../../state/types.js';
import type { Provider } from '../types.js';
import { observeNftables } from './observe.js';
import { renderNft } from './render.js';

/**
 * weft's nftables tables, by where they live. Each is weft's entirely and is read in the one
 * observation pass (a missing table is an empty one). Container namespaces have none of their own
 * now; the DNAT table of older versions is still read there, so that a leftover one is deleted.
 */
export const WEFT_TABLES: { host: readonly NftTableRef[]; container: readonly NftTableRef[] } = {
  host: [FIREWALL_TABLE],
  container: [LEGACY_DNS_TABLE],
};

function tablesFor(ns: NsKey): NftTableRef[] {
  return [...(ns === HOST ? WEFT_TABLES.host : WEFT_TABLES.container)];
}

/**
 * The tables listed with every read: the host's firewall. A container namespace's legacy DNAT
 * table is listed only where its first read shows the setting that came with it (route_localnet
 * on), not in every namespace every time: opening an nftables context per namespace was most of
 * a no-op apply of 1000 containers.
 */
function tablesRead(ns: NsKey): NftTableRef[] {
  return ns === HOST ? [...WEFT_TABLES.host] : [];
}

function tablesReadIf(ns: NsKey, snap: NsSnapshot): NftTableRef[] {
  if (ns === HOST) return [];
  return Object.entries(snap.sysctls).some(([path, v]) => path.endsWith('/route_localnet') && v === '1') ? [...WEFT_TABLES.container] : [];
}

/**
 * nftables objects in weft's own tables: tables, chains, sets and maps, their elements, rules.
 * All of a namespace's changes load as one `nft -j -f` transaction. Nothing updates in place:
 * a changed object is deleted and added again in that transaction.
 */
export const nftablesProvider: Provider<'nftables'> = {
  domain: 'nftables',
  rank: 4,
  recreateOn: ['kind', 'base', 'type', 'map', 'flags', 'key', 'value', 'expr', 'owner'],
  nftTables: tablesRead,
  nftTablesIf: tablesReadIf,
  observe: (obs, ctx) => observeNftables(obs, ctx, tablesFor),
  describe(e) {
    const where = e.ns === HOST ? '' : ` in ${e.ns}`;
    switch (e.kind) {
      case 'table':
        return { noun: 'nft table', name: `${e.family} ${e.name}${where}` };
      case 'chain':
        return { noun: 'nft chain', name: `${e.name} in ${e.family} ${e.table}${where}` };
      case 'set':
        return { noun: e.map ? 'nft map' : 'nft set', name: `${e.name} in ${e.family} ${e.table}${where}` };
      case 'element': {
        const value = e.value !== undefined ? ` : ${exprText(e.value)}` : '';
        return { noun: 'nft element', name: `${exprText(e.key)}${value} in ${e.value !== undefined ? 'map' : 'set'} ${e.set}${where}` };
      }
      case 'rule':
        return { noun: 'nft rule', name: `${e.name} in ${e.family} ${e.table} ${e.chain}${where}` };
    }
  },
  render: renderNft,
};
