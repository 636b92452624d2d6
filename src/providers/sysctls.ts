import type { SysctlEntry } from '../state/types.js';
import { HOST } from '../state/types.js';
import type { ChangeAction, Provider } from './types.js';

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
    out.sysctl(ctx.nsRef(d.ns), { path: d.path, value: d.value, ...(early(change.action, d) ? { early: true } : {}) });
  },
};

/**
 * Interface settings written before the namespace's ip operations. A container interface's go in
 * before its link comes up (its link-local address must not start duplicate-address detection);
 * the host side creates it before this work runs. A host interface's only when it exists and
 * stays (an update): the ip operations may need the setting (IPv6 neighbour entries on a VXLAN
 * device whose IPv6 is being turned back on); a new interface is not there yet.
 */
function early(action: ChangeAction, d: SysctlEntry): boolean {
  if (d.dev === undefined) return false;
  return d.ns !== HOST || action === 'update';
}
