import type { NetnsEntry } from '../state/types.js';
import { ownedNamespaces } from './ownership.js';
import type { Provider } from './types.js';

/** Named network namespaces weft creates for containers. Deleting one takes its interfaces with it. */
export const netnsProvider: Provider<'netns'> = {
  domain: 'netns',
  rank: 0,
  recreateOn: [],
  observe(obs, ctx) {
    const out: Record<string, NetnsEntry> = {};
    for (const [key, owner] of ownedNamespaces(obs, ctx)) out[key] = { name: key, owner };
    return out;
  },
  describe: (e) => ({ noun: 'netns', name: e.name }),
  render(change, out) {
    if (change.action === 'create' && change.desired) out.netnsAdd(change.desired.name);
    if (change.action === 'delete' && change.observed) out.netnsDelete(change.observed.name);
  },
};
