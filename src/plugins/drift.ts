import type { NsSnapshot } from '../kernel/index.js';
import { parseCidr, formatIp } from '../net/cidr.js';
import type { PluginRecord } from './types.js';

/**
 * What the kernel shows that differs from a plugin's recorded result inside the container: the
 * interface, its addresses, the routes. undefined when it all matches. Pure.
 */
export function observedDrift(rec: PluginRecord, ns: NsSnapshot | undefined): string | undefined {
  if (!ns) return 'the container namespace is not there';
  if (!ns.links.some((l) => l.name === rec.ifname)) return `interface ${rec.ifname} is gone`;
  const inSandbox = new Set((rec.result.interfaces ?? []).map((i, idx) => (i.sandbox ? idx : -1)).filter((i) => i >= 0));
  for (const ip of rec.result.ips ?? []) {
    const onIf = ip.interface === undefined || inSandbox.has(ip.interface);
    const c = parseCidr(ip.address);
    if (!onIf || !c) continue;
    const addr = formatIp(c.family, c.address);
    if (!ns.addresses.some((a) => a.dev === rec.ifname && a.local === addr && a.prefixlen === c.prefix)) return `address ${ip.address} is not on ${rec.ifname}`;
  }
  for (const r of rec.result.routes ?? []) {
    const dst = routeKey(r.dst);
    if (dst === undefined) continue;
    if (!ns.routes.some((k) => k.table === 'main' && routeKey(k.dst) === dst)) return `route ${r.dst} is gone`;
  }
  return undefined;
}

/** A route destination in one spelling: "default" for /0, no /32 or /128, canonical address text. */
function routeKey(dst: string): string | undefined {
  if (dst === 'default') return 'default';
  const c = parseCidr(dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`);
  if (!c) return undefined;
  if (c.prefix === 0) return `default/${c.family}`.replace(/\/4$|\/6$/, '');
  const full = c.family === 4 ? 32 : 128;
  return c.prefix === full ? formatIp(c.family, c.address) : `${formatIp(c.family, c.address)}/${c.prefix}`;
}
