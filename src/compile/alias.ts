/**
 * Ownership tags in interface aliases (ifalias). Everything weft creates carries "weft:k=v;k=v";
 * links without the prefix are never changed or deleted. Names cannot contain ';' or '=' (the
 * name rules forbid them), so the format needs no escaping.
 */

const PREFIX = 'weft:';

export function formatAlias(fields: Record<string, string>): string {
  return PREFIX + Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(';');
}

export function parseAlias(alias: string | undefined): Record<string, string> | undefined {
  if (!alias?.startsWith(PREFIX)) return undefined;
  const out: Record<string, string> = {};
  for (const part of alias.slice(PREFIX.length).split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

export const aliases = {
  network: (network: string) => formatAlias({ net: network }),
  endpoint: (container: string, network: string) => formatAlias({ ctr: container, net: network }),
  namespace: (container: string, hostKey: string) => formatAlias({ ctr: container, host: hostKey }),
};
