import type { SysctlEntry } from '../state/types.js';
import { HOST } from '../state/types.js';
import type { Provider } from './types.js';

/**
 * Kernel settings under /proc/sys, per namespace. Only the ones weft wants are read; weft does not
 * restore old values when it stops wanting one (the owner's namespace usually goes with it).
 */
export const sysctlsProvider: Provider<'sysctls'> = {
  domain: 'sysctls',
  rank: 5,
  recreateOn: [],
  observe(obs, ctx) {
    const out: Record<string, SysctlEntry> = {};
    for (const [id, want] of Object.entries(ctx.desired.sysctls)) {
      const snap = want.ns === HOST ? obs.hostSnapshot : obs.namespaces.get(want.ns);
      const value = snap?.sysctls[want.path];
      if (value !== undefined && value !== null) out[id] = { ...want, value };
    }
    return out;
  },
  describe: (e) => ({ noun: 'sysctl', name: `${e.path.replace(/\//g, '.')}=${e.value}${e.ns === HOST ? '' : ` in ${e.ns}`}` }),
  render(change, out, ctx) {
    const d = change.desired;
    if (!d || change.action === 'delete') return;
    // A container interface's settings go in before its link comes up (its link-local address
    // must not start duplicate-address detection); the host side creates it before this work runs.
    out.sysctl(ctx.nsRef(d.ns), { path: d.path, value: d.value, ...(d.ns !== HOST && d.dev !== undefined ? { early: true } : {}) });
  },
};
