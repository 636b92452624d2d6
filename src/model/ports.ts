import type { Protocol } from './types.js';
import { parseIp } from '../net/cidr.js';

export interface ParsedPort {
  hostIp?: string;
  hostPort: number;
  hostPortEnd: number;
  containerPort: number;
  containerPortEnd: number;
  protocol: Protocol;
}

/**
 * Parses Docker's publish syntax: [ip:]hostPort[-end]:containerPort[-end][/tcp|/udp|/sctp].
 * IPv6 host addresses go in brackets: [::1]:8080:80. Returns an error text instead of throwing.
 * weft is declarative, so the host port is required (Docker's "pick a random port" has no
 * stable meaning across re-applies).
 */
export function parsePort(text: string): ParsedPort | { error: string } {
  let rest = text.trim();
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') return { error: `unknown protocol "${p}"` };
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') return { error: 'unterminated IPv6 address' };
    hostIp = rest.slice(1, close);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(':');
  if (hostIp === undefined && parts.length === 3) hostIp = parts.shift();
  if (parts.length === 1) return { error: 'the host port is missing' };
  if (parts.length !== 2) return { error: 'too many ":"' };
  if (hostIp !== undefined && hostIp !== '' && !parseIp(hostIp)) return { error: `"${hostIp}" is not an IP address` };
  const host = parseRange(parts[0] ?? '');
  const ctr = parseRange(parts[1] ?? '');
  if (!host) return { error: `bad host port "${parts[0]}"` };
  if (!ctr) return { error: `bad container port "${parts[1]}"` };
  if (host[1] - host[0] !== ctr[1] - ctr[0]) return { error: 'host and container port ranges differ in length' };
  const out: ParsedPort = { hostPort: host[0], hostPortEnd: host[1], containerPort: ctr[0], containerPortEnd: ctr[1], protocol };
  if (hostIp) out.hostIp = hostIp;
  return out;
}

function parseRange(text: string): [number, number] | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || b > 65535 || b < a) return undefined;
  return [a, b];
}
