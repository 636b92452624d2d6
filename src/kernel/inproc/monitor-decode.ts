import type { KernelEvent } from '../monitor.js';
import { formatIp } from './addresses.js';
import type { NlMessage } from './rtnl-codec.js';
import { cString, parseAttrs, u32 } from './rtnl-codec.js';
import { AF, IFLA, MON, NFT, NL, RTA } from './rtnl-constants.js';

/**
 * Kernel change notifications (rtnetlink and nftables multicast messages) -> KernelEvents, the
 * daemon's dirty triggers. Pure. What `isNoise` and `CarrierFilter` decided from `ip monitor`'s
 * text is decided here from the message's fields: `noise` (the kernel's own consequences,
 * traffic), and for links `sig`, the fields weft manages (carrier and operstate left out).
 */

const VOLATILE_FLAGS = MON.IFF_RUNNING | MON.IFF_LOWER_UP | MON.IFF_DORMANT;
/** Route types that follow addresses and links: local, broadcast, anycast, multicast. */
const KERNEL_ROUTE_TYPES = new Set([2, 3, 4, 5]);

/** One rtnetlink notification -> an event; undefined for message types the monitor does not follow. */
export function decodeRtnl(m: NlMessage, nsid: number | null): KernelEvent | undefined {
  const b = m.body;
  switch (m.type) {
    case NL.RTM_NEWLINK:
    case NL.RTM_DELLINK: {
      if (b.length < 16) return undefined;
      const family = b.readUInt8(0);
      const ifindex = b.readInt32LE(4);
      const flags = b.readUInt32LE(8);
      const a = parseAttrs(b, 16);
      const name = a.has(IFLA.IFLA_IFNAME) ? cString(a.get(IFLA.IFLA_IFNAME)!) : '';
      const info = a.get(IFLA.IFLA_LINKINFO);
      const kindAttr = info ? parseAttrs(info).get(IFLA.IFLA_INFO_KIND) : undefined;
      const kind = kindAttr ? cString(kindAttr) : '';
      const alias = a.has(IFLA.IFLA_IFALIAS) ? cString(a.get(IFLA.IFLA_IFALIAS)!) : '';
      const mac = a.get(IFLA.IFLA_ADDRESS)?.toString('hex') ?? '';
      const sig = [flags & ~VOLATILE_FLAGS, name, kind, u32(a.get(IFLA.IFLA_MTU)) ?? '', u32(a.get(IFLA.IFLA_MASTER)) ?? '', alias, mac].join('|');
      return {
        source: 'ip',
        object: 'link',
        nsid,
        deleted: m.type === NL.RTM_DELLINK,
        ifindex,
        port: family === AF.AF_BRIDGE,
        sig,
        noise: false,
        line: `${ifindex}: ${name}${kind ? ` (${kind})` : ''}${alias ? ` alias ${alias}` : ''}${family === AF.AF_BRIDGE ? ' bridge port' : ''}`,
      };
    }
    case NL.RTM_NEWADDR:
    case NL.RTM_DELADDR: {
      if (b.length < 8) return undefined;
      const family = b.readUInt8(0);
      const a = parseAttrs(b, 8);
      const raw = a.get(RTA.IFA_LOCAL) ?? a.get(RTA.IFA_ADDRESS);
      const local = raw ? formatIp(raw) : '?';
      // IPv6 link-local addresses come and go with links (fe80::/10).
      const noise = family === AF.AF_INET6 && raw !== undefined && raw.length === 16 && raw[0] === 0xfe && (raw[1]! & 0xc0) === 0x80;
      return { source: 'ip', object: 'address', nsid, deleted: m.type === NL.RTM_DELADDR, noise, line: `dev ${b.readInt32LE(4)} ${local}/${b.readUInt8(1)}` };
    }
    case NL.RTM_NEWROUTE:
    case NL.RTM_DELROUTE: {
      if (b.length < 12) return undefined;
      const a = parseAttrs(b, 12);
      const table = u32(a.get(RTA.RTA_TABLE)) ?? b.readUInt8(4);
      const protocol = b.readUInt8(5);
      const type = b.readUInt8(7);
      const cloned = (b.readUInt32LE(8) & NL.RTM_F_CLONED) !== 0;
      const dst = a.get(RTA.RTA_DST);
      const noise = protocol === MON.RTPROT_KERNEL || table === MON.RT_TABLE_LOCAL || KERNEL_ROUTE_TYPES.has(type) || cloned;
      return { source: 'ip', object: 'route', nsid, deleted: m.type === NL.RTM_DELROUTE, noise, line: `${dst ? formatIp(dst) : 'default'}/${b.readUInt8(1)} table ${table} proto ${protocol}` };
    }
    case NL.RTM_NEWNEIGH:
    case NL.RTM_DELNEIGH: {
      if (b.length < 12) return undefined;
      const family = b.readUInt8(0);
      const state = b.readUInt16LE(8);
      const flags = b.readUInt8(10);
      const a = parseAttrs(b, 12);
      const dst = a.get(RTA.NDA_DST);
      const lladdr = a.get(RTA.NDA_LLADDR);
      // Neighbours: only permanent entries are weft's (traffic churns the rest); one deleted by
      // hand is reported failed, but keeps the protocol weft wrote it with (NDA_PROTOCOL, which
      // entries learnt from traffic do not have). Forwarding entries: only a device's own (self)
      // permanent ones; a bridge's learnt and local entries follow traffic and ports.
      const proto = a.get(RTA.NDA_PROTOCOL)?.readUInt8(0) ?? 0;
      const noise =
        family === AF.AF_BRIDGE
          ? (flags & RTA.NTF_SELF) === 0 || (state & RTA.NUD_PERMANENT) === 0
          : proto === 0 && ((state & RTA.NUD_PERMANENT) === 0 || (state & RTA.NUD_NOARP) !== 0);
      return {
        source: 'ip',
        object: 'neigh',
        nsid,
        deleted: m.type === NL.RTM_DELNEIGH,
        noise,
        line: `${family === AF.AF_BRIDGE ? 'fdb ' : ''}dev ${b.readInt32LE(4)} ${dst ? formatIp(dst) : ''} ${lladdr ? lladdr.toString('hex') : ''} state ${state}`.trim(),
      };
    }
    default:
      return undefined;
  }
}

const NFT_DELETES: ReadonlySet<number> = new Set([NFT.NFT_MSG_DELTABLE, NFT.NFT_MSG_DELCHAIN, NFT.NFT_MSG_DELRULE, NFT.NFT_MSG_DELSET, NFT.NFT_MSG_DELSETELEM, NFT.NFT_MSG_DELOBJ, NFT.NFT_MSG_DELFLOWTABLE]);

/**
 * Groups nftables notifications into one event per committed generation and namespace (the
 * NEWGEN message comes last and names the committing process). Only generations that touch a
 * table with "weft" in its name count: other tables are not weft's.
 */
export class NftGenerations {
  private readonly pending = new Map<number | null, { tables: Set<string>; deleted: boolean }>();

  push(m: NlMessage, nsid: number | null): KernelEvent | undefined {
    if (m.type >> 8 !== NFT.NFNL_SUBSYS_NFTABLES || m.body.length < 4) return undefined;
    const msg = m.type & 0xff;
    const a = parseAttrs(m.body, 4);
    if (msg !== NFT.NFT_MSG_NEWGEN) {
      const t = a.get(NFT.NFTA_TABLE_NAME);
      const table = t ? cString(t) : '';
      if (!table.includes('weft')) return undefined;
      const p = this.pending.get(nsid) ?? { tables: new Set<string>(), deleted: false };
      p.tables.add(table);
      p.deleted ||= NFT_DELETES.has(msg);
      this.pending.set(nsid, p);
      return undefined;
    }
    const p = this.pending.get(nsid);
    this.pending.delete(nsid);
    if (!p) return undefined;
    const pid = a.get(NFT.NFTA_GEN_PROC_PID);
    const name = a.get(NFT.NFTA_GEN_PROC_NAME);
    return {
      source: 'nft',
      object: 'nft',
      nsid,
      deleted: p.deleted,
      noise: false,
      ...(pid && pid.length >= 4 ? { pid: pid.readUInt32BE(0) } : {}),
      ...(name ? { process: cString(name) } : {}),
      line: `tables ${[...p.tables].sort().join(', ')}`,
    };
  }
}
