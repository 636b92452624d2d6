import { parseCidr } from '../../net/cidr.js';
import type { PluginResult } from '../types.js';
import { PluginError } from '../types.js';

/**
 * A plugin's ADD answer, checked for the shape weft reads (interfaces, ips, routes, dns) and kept
 * as the plugin gave it: it is the prevResult of the next plugin in the chain and of DEL/CHECK.
 * Throws PluginError for anything else (garbage answers are the plugin's failure, never a crash).
 */
export function checkResult(v: unknown, who: string): PluginResult {
  const bad = (what: string) => new PluginError(`${who} answered a result that is not a CNI result (${what})`);
  if (!isRecord(v)) throw bad('not an object');
  const interfaces = optionalArray(v['interfaces'], 'interfaces', bad);
  interfaces.forEach((i, n) => {
    if (!isRecord(i) || typeof i['name'] !== 'string') throw bad(`interfaces[${n}] has no name`);
    for (const k of ['mac', 'sandbox']) if (i[k] !== undefined && typeof i[k] !== 'string') throw bad(`interfaces[${n}].${k}`);
  });
  optionalArray(v['ips'], 'ips', bad).forEach((ip, n) => {
    if (!isRecord(ip) || typeof ip['address'] !== 'string' || !parseCidr(ip['address'])) throw bad(`ips[${n}].address is not a CIDR`);
    const idx = ip['interface'];
    if (idx !== undefined && (typeof idx !== 'number' || !Number.isInteger(idx) || idx < 0 || idx >= interfaces.length)) throw bad(`ips[${n}].interface`);
    if (ip['gateway'] !== undefined && typeof ip['gateway'] !== 'string') throw bad(`ips[${n}].gateway`);
  });
  optionalArray(v['routes'], 'routes', bad).forEach((r, n) => {
    if (!isRecord(r) || typeof r['dst'] !== 'string' || !parseCidr(r['dst'])) throw bad(`routes[${n}].dst is not a CIDR`);
  });
  if (v['dns'] !== undefined && !isRecord(v['dns'])) throw bad('dns');
  return v as PluginResult;
}

function optionalArray(v: unknown, what: string, bad: (w: string) => Error): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(`${what} is not a list`);
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
