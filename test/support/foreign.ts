import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { must, run } from './netns.js';

/**
 * Foreign neighbours (issue 16): objects another program made in a test host namespace, that weft
 * must never change or delete. plant() adds a bridge (with an address, a route through it and a
 * permanent neighbour entry), a veth pair, an nftables table with rules in the hooks weft uses
 * (nat prerouting/output/postrouting, filter forward/input) and an /etc/netns folder named like
 * one of weft's. dump() reads them back from the kernel (and the disk) for a before/after compare.
 */

const BRIDGE = 'frnbr0';
const VETH = ['frnva', 'frnvb'] as const;
const TABLE = 'frn_neighbour';
const ADDR = '198.19.250.1/24';
const ROUTE = '198.19.251.0/24';
const NEIGH = '198.19.250.9';

/** Whether a leftovers() line (test/support/crash.ts) names one of the foreign objects. */
export function isForeign(line: string): boolean {
  return [BRIDGE, ...VETH, TABLE, 'frnneighbour'].some((n) => new RegExp(`\\b${n}\\b`).test(line));
}

/** The /etc/netns folder a foreign program made under the host's prefix (no container of weft's). */
export function foreignEtcDir(host: string): string {
  return `/etc/netns/${host}-frnneighbour`;
}

export async function plantForeign(host: string): Promise<void> {
  const ip = (args: string) => must(['ip', '-n', host, ...args.split(' ')]);
  // IPv4-only, as many a foreign bridge is: no IPv6 link-local address, so no duplicate address
  // detection and router solicitations changing things (and making events) after the dump.
  await ip(`link add ${BRIDGE} type bridge`);
  await ip(`link set ${BRIDGE} addrgenmode none`);
  await ip(`link set ${BRIDGE} up`);
  await ip(`addr add ${ADDR} dev ${BRIDGE}`);
  await ip(`route add ${ROUTE} via 198.19.250.2 dev ${BRIDGE} onlink`);
  await ip(`neigh add ${NEIGH} lladdr 02:00:5e:00:00:09 dev ${BRIDGE} nud permanent`);
  await ip(`link add ${VETH[0]} type veth peer name ${VETH[1]}`);
  for (const v of VETH) await ip(`link set ${v} addrgenmode none`);
  await ip(`link set ${VETH[0]} up`);
  const nft = [
    `table inet ${TABLE} {`,
    '  chain f_pre {', '    type nat hook prerouting priority -100; policy accept;', '    tcp dport 65001 counter', '  }',
    '  chain f_out {', '    type nat hook output priority -100; policy accept;', '    tcp dport 65001 counter', '  }',
    '  chain f_post {', '    type nat hook postrouting priority 100; policy accept;', '    ip daddr 198.19.251.0/24 counter', '  }',
    '  chain f_fwd {', '    type filter hook forward priority 0; policy accept;', '    iifname "frnva" counter', '  }',
    '  chain f_in {', '    type filter hook input priority 0; policy accept;', '    tcp dport 65002 counter', '  }',
    '}',
  ].join('\n');
  await must(['ip', 'netns', 'exec', host, 'nft', '-f', '-'], { input: `${nft}\n` });
  await mkdir(foreignEtcDir(host), { recursive: true });
  await writeFile(`${foreignEtcDir(host)}/hosts`, '198.19.250.9 neighbour.example\n');
}

/** The foreign objects as the kernel reports them now: equal before and after any weft run. */
export async function dumpForeign(host: string): Promise<unknown> {
  const json = async (argv: string[]) => {
    const r = await run(argv);
    return r.code === 0 ? (JSON.parse(r.stdout || 'null') as unknown) : `failed: ${r.stderr.trim()}`;
  };
  type Link = { ifname: string; link_type?: string; address?: string; mtu?: number; master?: string; flags?: string[]; ifalias?: string; operstate?: string };
  const links = ((await json(['ip', '-n', host, '-j', 'link', 'show'])) as Link[]).filter((l) => l.ifname === BRIDGE || (VETH as readonly string[]).includes(l.ifname));
  const etc = await readdir(foreignEtcDir(host)).catch(() => [] as string[]);
  return {
    links: links.map((l) => ({ ifname: l.ifname, type: l.link_type, address: l.address, mtu: l.mtu, master: l.master, flags: l.flags, ifalias: l.ifalias })),
    // IPv4 only: the kernel's own IPv6 link-local address changes state (tentative) by itself.
    addrs: await json(['ip', '-n', host, '-4', '-j', 'addr', 'show', 'dev', BRIDGE]).then((a) =>
      Array.isArray(a) ? (a as { addr_info?: { local: string; prefixlen: number; scope?: string }[] }[]).flatMap((l) => (l.addr_info ?? []).map((x) => `${x.local}/${x.prefixlen} ${x.scope ?? ''}`)) : a,
    ),
    routes: await json(['ip', '-n', host, '-j', 'route', 'show', 'dev', BRIDGE]),
    neigh: await json(['ip', '-n', host, '-j', 'neigh', 'show', 'dev', BRIDGE]),
    // Counters move with traffic that is not weft's to judge: compare the rules without them.
    nft: stripCounters(await json(['ip', 'netns', 'exec', host, 'nft', '-j', 'list', 'table', 'inet', TABLE])),
    etc: await Promise.all(etc.sort().map(async (f) => [f, await readFile(`${foreignEtcDir(host)}/${f}`, 'utf8')])),
  };
}

function stripCounters(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripCounters);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = k === 'counter' ? {} : stripCounters(x);
    return out;
  }
  return v;
}
