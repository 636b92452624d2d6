/**
 * The text formats of manifest fields that reach the kernel, a file, a path or the network. Each
 * is a JSON Schema `pattern` (so the schema refuses the text before anything else reads it) with
 * the error code, message and hint a failed match reports (manifest/parse.ts). The patterns are
 * deliberately narrow: no white space, no control characters, no '/' where a path is built, so a
 * value can never become a second `ip -batch` line, a second /etc/hosts line or another path.
 * Semantic checks the pattern cannot express (ranges, known option names, address parsing) are
 * model rules (src/model/rules/field-values.ts) with the same codes. Pure.
 */

export interface Format {
  /** ECMAScript source, compiled with the 'u' flag (as ajv does). */
  pattern: string;
  code: string;
  /** Completes "<field> "<value>" ..." */
  what: string;
  hint: string;
}

// A DNS label as Docker's names and aliases use it: RFC 1123 letters, digits and '-', plus '_'
// (container names may hold it and Docker resolves them), 1-63 characters, no '-' at either end.
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
// A DNS name: labels joined by '.', at most 253 characters, an optional final '.'.
const DNS_NAME = `(?=[^\\n]{1,253}$)${LABEL}(?:\\.${LABEL})*\\.?`;
// RFC 1123 host names: no '_'.
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
// The characters of an IPv4 or IPv6 address (ipaddr.js parses them in the model rules).
const IP_CHARS = '[0-9A-Fa-f.:]{2,45}';
// A weft object name (container, network, host), as src/model/rules/names.ts checks it.
const OBJECT_NAME = '[A-Za-z0-9][A-Za-z0-9_.-]{0,62}';
// A namespace name under /run/netns: one path component, not "." or "..", at most 255 bytes.
const NETNS_NAME = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}';

export const formats = {
  mac: {
    pattern: '^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$',
    code: 'BAD_MAC',
    what: 'is not a MAC address',
    hint: 'write six hex pairs separated by ":", e.g. 02:42:ac:11:00:09',
  },
  netns: {
    pattern: `^(?:/run/netns/${NETNS_NAME}|/proc/[1-9][0-9]{0,9}/ns/net|${NETNS_NAME})$`,
    code: 'BAD_NETNS',
    what: 'is not a network namespace path',
    hint: 'write /run/netns/NAME, NAME, or /proc/PID/ns/net',
  },
  driver: {
    pattern: '^[a-z0-9][a-z0-9._-]{0,63}$',
    code: 'BAD_DRIVER',
    what: 'is not a driver name',
    hint: 'use a built-in driver (bridge, overlay, macvlan, host, none) or a plugin name of lower-case letters, digits, ".", "_" and "-"',
  },
  hostname: {
    pattern: `^(?=[^\\n]{1,253}$)${HOST_LABEL}(?:\\.${HOST_LABEL})*$`,
    code: 'BAD_HOSTNAME',
    what: 'is not a host name',
    hint: 'use letters, digits and "-" in labels of at most 63 characters joined by ".", at most 253 characters (RFC 1123)',
  },
  dnsName: {
    pattern: `^${DNS_NAME}$`,
    code: 'BAD_DNS_NAME',
    what: 'is not a DNS name',
    hint: 'use letters, digits, "_" and "-" in labels of at most 63 characters joined by ".", at most 253 characters',
  },
  dnsSearch: {
    pattern: `^(?:${DNS_NAME}|\\.)$`,
    code: 'BAD_DNS_NAME',
    what: 'is not a DNS search domain',
    hint: 'write a domain such as example.com (or "." for none), labels of at most 63 characters',
  },
  dnsOption: {
    pattern: '^[a-z][a-z0-9-]{0,31}(?::[0-9]{1,4})?$',
    code: 'BAD_DNS_OPTION',
    what: 'is not a resolv.conf option',
    hint: 'write an option as Docker\'s --dns-option takes it, e.g. ndots:2, timeout:3, attempts:2, rotate, edns0',
  },
  dnsServer: {
    // The same characters as "ip", written as a group so the two patterns stay distinct keys.
    pattern: `^(?:${IP_CHARS})$`,
    code: 'BAD_DNS_SERVER',
    what: 'is not an IP address',
    hint: 'write a plain IPv4 or IPv6 address as Docker\'s --dns takes it (no port, no "#")',
  },
  extraHost: {
    pattern: `^${DNS_NAME}:${IP_CHARS}$`,
    code: 'BAD_EXTRA_HOST',
    what: 'is not NAME:IP',
    hint: 'write a host name and an address, e.g. db.local:10.0.0.5',
  },
  link: {
    pattern: `^${OBJECT_NAME}(?::${LABEL})?$`,
    code: 'BAD_LINK',
    what: 'is not "name" or "name:alias"',
    hint: 'write it as container1:db',
  },
  ip: {
    pattern: `^${IP_CHARS}$`,
    code: 'BAD_IP',
    what: 'is not an IP address',
    hint: 'write an IPv4 or IPv6 address, e.g. 172.21.0.5',
  },
  cidr: {
    pattern: `^${IP_CHARS}/[0-9]{1,3}$`,
    code: 'BAD_CIDR',
    what: 'is not a CIDR',
    hint: 'write it as address/prefix, e.g. 172.21.0.0/16',
  },
  gateway: {
    pattern: `^${IP_CHARS}(?:/[0-9]{1,3})?$`,
    code: 'BAD_IP',
    what: 'is not an IP address',
    hint: 'write an address inside the subnet, e.g. 172.21.0.1',
  },
  port: {
    // The characters of a mapping; the model parses it (and names an unknown protocol).
    pattern: '^[0-9A-Fa-f.:\\[\\]-]{1,64}(?:/[a-z]{1,8})?$',
    code: 'BAD_PORT',
    what: 'is not a port mapping',
    hint: 'write [ip:]hostPort[-end]:containerPort[-end][/tcp|/udp], e.g. 8080:80/tcp',
  },
  objectName: {
    pattern: `^${OBJECT_NAME}$`,
    code: 'BAD_NAME',
    what: 'is not a name',
    hint: 'use letters, digits, "_", "." and "-", starting with a letter or digit, at most 63 characters',
  },
  cniConflist: {
    // A file name under /etc/cni/net.d, never a path: no '/', no leading '.'.
    pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$',
    code: 'BAD_CNI_CONFLIST',
    what: 'is not a CNI configuration file name',
    hint: 'name a file in /etc/cni/net.d (e.g. podnet or podnet.conflist): letters, digits, "_", "." and "-", no "/"',
  },
  optionValue: {
    // Printable text: option values weft does not interpret are still kept (Docker's inspect
    // output shows them), but never with control characters or line breaks.
    pattern: '^[^\\p{Cc}\\p{Zl}\\p{Zp}]{0,1024}$',
    code: 'BAD_OPTION',
    what: 'has control characters or is longer than 1024 characters',
    hint: 'write the option\'s value as printable text on one line',
  },
} as const satisfies Record<string, Format>;

export type FormatName = keyof typeof formats;

const byPattern = new Map<string, Format>(Object.values(formats).map((f) => [f.pattern, f]));

/** The format a schema `pattern` belongs to (for error messages); undefined for other patterns. */
export function formatOfPattern(pattern: string): Format | undefined {
  return byPattern.get(pattern);
}

const compiled = new Map<string, RegExp>();

/** Whether `text` has the format (the same test the schema makes). */
export function matchesFormat(name: FormatName, text: string): boolean {
  const f = formats[name];
  let re = compiled.get(f.pattern);
  if (!re) compiled.set(f.pattern, (re = new RegExp(f.pattern, 'u')));
  return re.test(text);
}
