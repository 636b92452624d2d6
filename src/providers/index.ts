import type { Domain } from '../state/types.js';
import { addressesProvider } from './addresses.js';
import { fdbProvider } from './fdb.js';
import { neighProvider } from './neigh.js';
import { filesProvider } from './files.js';
import { linksProvider } from './links.js';
import { netnsProvider } from './netns.js';
import { nftablesProvider } from './nftables/index.js';
import { routesProvider } from './routes.js';
import { sysctlsProvider } from './sysctls.js';
import type { Provider } from './types.js';

export type * from './types.js';
export { ProgramBuilder, order } from './program-builder.js';
export { observe, observeScoped, readSpec } from './observe.js';
export { hostLinkOwner } from './ownership.js';
export { WEFT_ROUTE_PROTO } from './routes.js';
export { ETC_NETNS, WEFT_FILE_MARK, fileNames } from './files.js';
export { WEFT_TABLES } from './nftables/index.js';

/** Every provider, one per domain, in dependency order. */
export const providers: readonly Provider[] = [
  netnsProvider,
  linksProvider,
  addressesProvider,
  routesProvider,
  nftablesProvider,
  sysctlsProvider,
  neighProvider,
  fdbProvider,
  filesProvider,
] as unknown as readonly Provider[];

export function providerFor(domain: Domain): Provider {
  const p = providers.find((x) => x.domain === domain);
  if (!p) throw new Error(`no provider for domain ${domain}`);
  return p;
}
