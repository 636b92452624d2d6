import { existsSync, readFileSync } from 'node:fs';

/**
 * Reads the numeric constants of Linux UAPI headers: `#define NAME <number or known name>` lines
 * and the members of `enum { ... }` blocks (counted from 0, or from an explicit `= value`).
 * Enough for the rtnetlink headers; expressions beyond `(1 << n)`, `0x..` and a name are skipped.
 * Returns an empty map when the header is missing (the Debian package linux-libc-dev).
 */
export function readHeaderConstants(files: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  const value = (expr: string): number | undefined => {
    const e = expr.trim().replace(/^\((.*)\)$/, '$1').replace(/[uUlL]+$/, '');
    if (/^(0x[0-9a-fA-F]+|\d+)$/.test(e)) return Number(e);
    const shift = /^\(?\s*1U?\s*<<\s*(\d+)\s*\)?$/.exec(e);
    if (shift?.[1]) return 2 ** Number(shift[1]);
    if (e.includes('|')) {
      const parts = e.split('|').map((x) => value(x));
      return parts.every((x) => x !== undefined) ? parts.reduce<number>((a, b) => a | (b ?? 0), 0) : undefined;
    }
    return out.get(e);
  };
  for (const file of files) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const m of text.matchAll(/^#define\s+([A-Z][A-Z0-9_]*)\s+(.+)$/gm)) {
      const v = value(m[2]!);
      if (v !== undefined && !out.has(m[1]!)) out.set(m[1]!, v);
    }
    for (const m of text.matchAll(/enum\s*\w*\s*\{([^}]*)\}/g)) {
      let next = 0;
      // Some enums interleave `#define X X` lines (feature markers): they are not members.
      const body = m[1]!.replace(/^\s*#.*$/gm, '');
      for (const raw of body.split(',')) {
        const item = raw.trim();
        if (item === '' || item.startsWith('#')) continue;
        const [name, expr] = item.split('=').map((s) => s.trim());
        if (!name || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
        const v = expr !== undefined ? value(expr) : next;
        if (v === undefined) break;
        out.set(name, v);
        next = v + 1;
      }
    }
  }
  return out;
}

export const RTNETLINK_HEADERS = ['netlink.h', 'rtnetlink.h', 'if_link.h', 'veth.h', 'if_addr.h', 'neighbour.h', 'net_namespace.h', 'if_bridge.h', 'if.h'].map((h) => `/usr/include/linux/${h}`);
