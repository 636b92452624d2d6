/**
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
