/**
 * weft's naming and ownership conventions, in one place below both compile (which names and tags
 * what it wants) and the providers (which read those names and tags back to tell weft's objects
 * from everyone else's): namespace names, ownership tags in interface aliases, the owner of the
 * host's own objects, the names of weft's nftables tables, macvlan modes. Pure, no imports of
 * weft's own but the state types.
 */
import type { Owner } from './state/types.js';

/** A container's namespace: "<host netns>-<container>", or the container's name on the machine's own namespace. */
export function netnsName(hostNetns: string, container: string): string {
  return hostNetns ? `${hostNetns}-${container}` : container;
}

/** Where /etc/netns files for a namespace live (ip netns exec bind-mounts them over /etc). */
export function etcNetnsDir(netns: string): string {
  return `/etc/netns/${netns}`;
}

/** Owner of what belongs to the host itself (the firewall's table, chains, rules, host sysctls). */
export function hostOwner(hostNetns: string): Owner {
  return { kind: 'host', name: hostNetns || 'local' };
}

/** The host's firewall table: weft's entirely. */
export const FIREWALL_TABLE = { family: 'inet', name: 'weft' } as const;

/** The DNAT table older versions put in container namespaces for the embedded DNS (now only deleted). */
export const LEGACY_DNS_TABLE = { family: 'ip', name: 'weft_dns' } as const;

/** Docker's macvlan modes, as the kernel names them. */
export const MACVLAN_MODES = ['bridge', 'private', 'vepa', 'passthru'] as const;
export type MacvlanMode = (typeof MACVLAN_MODES)[number];

/*
 * Ownership tags in interface aliases (ifalias). Everything weft creates carries "weft:k=v;k=v";
 * links without the prefix are never changed or deleted. Names cannot contain ';' or '=' (the
 * name rules forbid them), so the format needs no escaping.
 */

const PREFIX = 'weft:';

export function formatAlias(fields: Record<string, string>): string {
  return PREFIX + Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(';');
}

/**
 * The fields of a weft tag, or undefined for a foreign alias. Shared, frozen results: every
 * observation pass parses every host link's tag several times, the daemon's many times a second.
 */
export function parseAlias(alias: string | undefined): Readonly<Record<string, string>> | undefined {
  if (!alias?.startsWith(PREFIX)) return undefined;
  let out = parsed.get(alias);
  if (out) return out;
  const fields: Record<string, string> = {};
  for (const part of alias.slice(PREFIX.length).split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
  }
  // Aliases are at most 255 bytes (IFALIASZ); the cap bounds what hostile aliases can pin.
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(alias, (out = Object.freeze(fields)));
  return out;
}

const PARSED_MAX = 50_000;
const parsed = new Map<string, Readonly<Record<string, string>>>();

export const aliases = {
  network: (network: string) => formatAlias({ net: network }),
  endpoint: (container: string, network: string) => formatAlias({ ctr: container, net: network }),
  namespace: (container: string, hostKey: string) => formatAlias({ ctr: container, host: hostKey }),
};
