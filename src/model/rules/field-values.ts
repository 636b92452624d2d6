import type { Problem } from '../../errors.js';
import { formats } from '../../manifest/formats.js';
import { parseIp } from '../../net/cidr.js';
import { problemAt, sub } from '../build.js';
import type { Model } from '../types.js';

/**
 * What the field formats (manifest/formats.ts, checked by the schema) cannot say: the values
 * behind the text. Every value here has already passed its format, so it holds no white space or
 * control characters; these rules refuse what the kernel, a resolver or Docker would refuse.
 */

/** The largest PID Linux hands out (PID_MAX_LIMIT). */
const PID_MAX = 4_194_304;

/**
 * resolv.conf options (resolv.conf(5)) and the range of their values: glibc caps ndots at 15,
 * timeout at 30 and attempts at 5; Docker's --dns-option passes these through.
 */
const DNS_OPTIONS: Readonly<Record<string, { min: number; max: number } | null>> = {
  ndots: { min: 0, max: 15 },
  timeout: { min: 1, max: 30 },
  attempts: { min: 1, max: 5 },
  rotate: null,
  debug: null,
  edns0: null,
  inet6: null,
  'ip6-bytestring': null,
  'ip6-dotint': null,
  'no-ip6-dotint': null,
  'no-check-names': null,
  'single-request': null,
  'single-request-reopen': null,
  'no-tld-query': null,
  'use-vc': null,
  'no-reload': null,
  'trust-ad': null,
  'no-aaaa': null,
};

/** Why a resolv.conf option is refused, or undefined when it is fine. */
export function dnsOptionProblem(option: string): string | undefined {
  const [name = '', value] = option.split(':');
  const range = DNS_OPTIONS[name];
  if (range === undefined) return `is not an option resolv.conf knows (${Object.keys(DNS_OPTIONS).join(', ')})`;
  if (range === null) return value === undefined ? undefined : `takes no value`;
  if (value === undefined) return `needs a value (${name}:N)`;
  const n = Number(value);
  return n < range.min || n > range.max ? `has a value outside ${range.min}-${range.max}` : undefined;
}

/** A MAC a container interface can use: unicast (bit 0 of the first byte clear) and not all zeros. */
export function isUsableMac(mac: string): boolean {
  const first = parseInt(mac.slice(0, 2), 16);
  return (first & 1) === 0 && !/^(?:00:){5}00$/.test(mac);
}

/** Container fields whose values the formats alone cannot check. */
export function fieldValues(model: Model): Problem[] {
  const out: Problem[] = [];
  for (const c of model.containers.values()) {
    const who = `container "${c.name}"`;
    for (const e of c.endpoints) {
      if (e.macAddress !== undefined && !isUsableMac(e.macAddress)) {
        out.push(problemAt(sub(e.src, 'macAddress'), formats.mac.code, `${who}: macAddress ${JSON.stringify(e.macAddress)} is a multicast or all-zero address`, 'use a unicast address, e.g. 02:42:ac:11:00:09 (the first byte even)'));
      }
    }
    // Known from the text alone: PID 1's namespace is the machine's own (the CLI also compares
    // every netns by inode with the host's at plan and apply time: netns-target.ts).
    if (c.netns === '/proc/1/ns/net') {
      out.push(problemAt(sub(c.src, 'spec', 'netns'), 'NETNS_IS_HOST', `${who}: netns "/proc/1/ns/net" is the machine's own namespace`, 'attach the namespace of a container, or remove "netns" to let weft create one'));
    }
    const pid = c.netns !== undefined ? /^\/proc\/(\d+)\/ns\/net$/.exec(c.netns)?.[1] : undefined;
    if (pid !== undefined && Number(pid) > PID_MAX) {
      out.push(problemAt(sub(c.src, 'spec', 'netns'), formats.netns.code, `${who}: netns ${JSON.stringify(c.netns)} names a process id above ${PID_MAX}`, 'give the PID of the process whose namespace to attach'));
    }
    c.dns.servers.forEach((s, i) => {
      if (!parseIp(s)) out.push(problemAt(sub(c.src, 'spec', 'dns', 'servers', i), formats.dnsServer.code, `${who}: dns server ${JSON.stringify(s)} is not an IP address`, formats.dnsServer.hint));
    });
    c.dns.options.forEach((o, i) => {
      const bad = dnsOptionProblem(o);
      if (bad) out.push(problemAt(sub(c.src, 'spec', 'dns', 'options', i), formats.dnsOption.code, `${who}: dns option ${JSON.stringify(o)} ${bad}`, formats.dnsOption.hint));
    });
    c.extraHosts.forEach((h, i) => {
      const ip = h.slice(h.indexOf(':') + 1);
      if (!parseIp(ip)) out.push(problemAt(sub(c.src, 'spec', 'extraHosts', i), formats.extraHost.code, `${who}: extra host ${JSON.stringify(h)} has no valid IP address after the first ":"`, formats.extraHost.hint));
    });
  }
  for (const n of model.networks.values()) {
    if (!n.declared || !n.src) continue;
    for (const p of n.pools) {
      for (const [name, ip] of Object.entries(p.auxAddresses)) {
        if (!parseIp(ip)) out.push(problemAt(sub(p.src, 'auxAddresses', name), formats.ip.code, `network "${n.name}": aux address ${JSON.stringify(name)} is ${JSON.stringify(ip)}, not an IP address`, formats.ip.hint));
      }
    }
  }
  return out;
}
