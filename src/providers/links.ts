import type { KLink } from '../kernel/index.js';
import { MACVLAN_MODES } from '../naming.js';
import type { LinkEntry, MacvlanEntry, Owner, VethPeerEntry, VlanEntry, VxlanEntry } from '../state/types.js';
import { HOST, ids } from '../state/types.js';
import { order } from './program-builder.js';
import { endpointOwner, hostLinkOwner, ownedNamespaces, ownedVeths } from './ownership.js';
import type { Observation, Provider } from './types.js';

const RANK = 1;
// Within the link rank: bridges and VLAN parents first, then their ports (VXLAN devices, veths,
// macvlans made from the host namespace), container ends last.
const sub = { bridge: 0, vlan: 0, vxlan: 0.05, veth: 0.1, macvlan: 0.15, 'veth-peer': 0.2, loopback: 0.2 } as const;

/** Bridges and veth pairs in the host namespace, loopback and veth ends in container namespaces. */
export const linksProvider: Provider<'links'> = {
  domain: 'links',
  rank: RANK,
  // VXLAN flags and a VLAN's or macvlan's parent can only be set when the device is created.
  recreateOn: ['kind', 'peer', 'vni', 'local', 'dstport', 'learning', 'proxy', 'parent', 'vlanId', 'mode'],
  observe(obs, ctx) {
    const out: Record<string, LinkEntry> = {};
    const put = (e: LinkEntry) => (out[ids.link(e.ns, e.name)] = e);
    for (const l of obs.hostSnapshot.links) {
      const owner = hostLinkOwner(l);
      if (!owner || owner.kind !== 'network') continue;
      if (l.kind === 'bridge') put({ kind: 'bridge', ns: HOST, name: l.name, alias: tagOf(l), mtu: l.mtu, up: l.up, owner });
      else if (l.kind === 'vxlan') put(vxlanEntry(l, owner));
      else if (l.kind === 'vlan') put(vlanEntry(l, owner, obs));
    }
    for (const [ns, snap] of obs.namespaces) {
      for (const l of snap.links) {
        const owner = l.kind === 'macvlan' ? endpointOwner(l) : undefined;
        if (owner) put(macvlanEntry(ns, l, owner, obs));
      }
    }
    for (const v of ownedVeths(obs)) {
      const e: LinkEntry = {
        kind: 'veth',
        ns: HOST,
        name: v.host.name,
        alias: tagOf(v.host),
        mtu: v.host.mtu,
        up: v.host.up,
        addrgenmode: v.host.addrgenmode === 'none' ? 'none' : 'eui64',
        peer: { ns: v.peerNs, name: v.peer?.name ?? '(missing)' },
        owner: v.owner,
      };
      if (v.host.master) e.master = v.host.master;
      if (v.host.slaveInfo?.['hairpin'] === true) e.hairpin = true;
      put(e);
      // A scoped observation (observeScoped) wants the container ends of its own namespaces only.
      if (v.peer && (!obs.allNamespaces || obs.namespaces.has(v.peerNs))) put(peerEntry(v.peerNs, v.peer, v.owner));
    }
    for (const [key, owner] of ownedNamespaces(obs, ctx)) {
      const lo = obs.namespaces.get(key)?.links.find((l) => l.name === 'lo');
      if (lo) put({ kind: 'loopback', ns: key, name: 'lo', up: lo.up, alias: lo.alias ?? '', owner });
    }
    return out;
  },
  describe: (e) => ({ noun: e.kind === 'veth-peer' ? 'interface' : e.kind, name: e.ns === HOST ? e.name : `${e.name} in ${e.ns}` }),
  render(change, out, ctx) {
    const e = change.desired ?? change.observed;
    if (!e) return;
    const ns = ctx.nsRef(e.ns);
    if (change.action === 'delete') {
      const del = { op: 'link-del' as const, name: e.name, what: `deleting ${e.kind} ${e.name}` };
      // A namespace's loopback goes with the namespace. A macvlan goes before the host namespace
      // runs, which may create it again under the same name.
      if (e.kind === 'macvlan') out.ipEarly(ns, order.delete(RANK + sub[e.kind]), del);
      else if (e.kind !== 'loopback') out.ip(ns, order.delete(RANK + sub[e.kind]), del);
      return;
    }
    const rank = order.create(RANK + sub[e.kind]);
    const d = change.desired;
    if (!d) return;
    if (change.action === 'create') {
      if (d.kind === 'bridge') {
        out.ip(ns, rank, { op: 'link-add-bridge', name: d.name, mtu: d.mtu, what: `creating bridge ${d.name}` });
        out.ip(ns, rank, { op: 'link-set', name: d.name, alias: d.alias, up: true, what: `tagging bridge ${d.name}` });
      } else if (d.kind === 'veth') {
        const peer = ctx.desired.links[ids.link(d.peer.ns, d.peer.name)] as VethPeerEntry | undefined;
        const peerRef = ctx.nsRef(d.peer.ns);
        out.ip(ns, rank, {
          op: 'link-add-veth',
          name: d.name,
          mtu: d.mtu,
          ...(d.master ? { master: d.master } : {}),
          peer: { name: d.peer.name, netns: netnsArgument(d.peer.ns, peerRef.path), mac: peer?.mac ?? '', mtu: peer?.mtu ?? d.mtu },
          what: `creating veth ${d.name} (peer ${d.peer.name} in ${d.peer.ns})`,
        });
        out.ip(ns, rank, { op: 'link-set', name: d.name, addrgenmode: d.addrgenmode, alias: d.alias, up: true, what: `tagging veth ${d.name}` });
        if (d.hairpin) out.ip(ns, rank, { op: 'link-set', name: d.name, hairpin: true, what: `setting hairpin on bridge port ${d.name}` });
      } else if (d.kind === 'vxlan') {
        out.ip(ns, rank, {
          op: 'link-add-vxlan',
          name: d.name,
          mtu: d.mtu,
          vni: d.vni,
          ...(d.local ? { local: d.local } : {}),
          dstport: d.dstport,
          learning: d.learning,
          proxy: d.proxy,
          what: `creating vxlan ${d.name} (VNI ${d.vni})`,
        });
        out.ip(ns, rank, { op: 'link-set', name: d.name, alias: d.alias, ...(d.addrgenmode ? { addrgenmode: d.addrgenmode } : {}), ...(d.master ? { master: d.master } : {}), up: d.up, what: `tagging vxlan ${d.name}` });
      } else if (d.kind === 'vlan') {
        out.ip(ns, rank, { op: 'link-add-vlan', name: d.name, parent: d.parent, vlanId: d.vlanId, what: `creating VLAN interface ${d.name}` });
        out.ip(ns, rank, { op: 'link-set', name: d.name, alias: d.alias, up: d.up, what: `tagging VLAN interface ${d.name}` });
      } else if (d.kind === 'macvlan') {
        const host = ctx.nsRef(HOST);
        out.ip(host, rank, {
          op: 'link-add-macvlan',
          name: d.name,
          parent: d.parent,
          mode: d.mode,
          mac: d.mac,
          mtu: d.mtu,
          netns: netnsArgument(d.ns, ns.path),
          what: `creating macvlan ${d.name} on ${d.parent} (in ${d.ns})`,
        });
        out.ip(ns, order.create(RANK + sub['veth-peer']), { op: 'link-set', name: d.name, alias: d.alias, addrgenmode: d.addrgenmode, up: d.up, what: `configuring ${d.name}` });
      } else if (d.kind === 'veth-peer') {
        out.ip(ns, rank, { op: 'link-set', name: d.name, addrgenmode: d.addrgenmode, mac: d.mac, mtu: d.mtu, up: true, what: `configuring ${d.name}` });
      } else {
        out.ip(ns, rank, { op: 'link-set', name: d.name, alias: d.alias, up: true, what: `configuring loopback` });
      }
      return;
    }
    // update in place
    const o = change.observed as Record<string, unknown> | undefined;
    const dd = d as unknown as Record<string, unknown>;
    const changed = (f: string) => change.fields.includes(f) && o?.[f] !== dd[f];
    if (change.fields.some((f) => f !== 'hairpin')) out.ip(ns, rank, {
      op: 'link-set',
      name: d.name,
      ...(changed('addrgenmode') && (d.kind === 'veth-peer' || d.kind === 'veth' || d.kind === 'macvlan') ? { addrgenmode: d.addrgenmode } : {}),
      ...(changed('addrgenmode') && d.kind === 'vxlan' ? { addrgenmode: d.addrgenmode ?? 'eui64' } : {}),
      ...(changed('mac') && (d.kind === 'veth-peer' || d.kind === 'macvlan') ? { mac: d.mac } : {}),
      ...(changed('mtu') && 'mtu' in d ? { mtu: d.mtu } : {}),
      ...(changed('master') && (d.kind === 'veth' || d.kind === 'vxlan') ? { master: d.master ?? null } : {}),
      ...(changed('alias') && 'alias' in d ? { alias: d.alias } : {}),
      ...(changed('up') ? { up: true } : {}),
      what: `updating ${d.kind} ${d.name} (${change.fields.join(', ')})`,
    });
    // After the line above: a port option needs the port's master in place.
    if (changed('hairpin') && d.kind === 'veth') {
      out.ip(ns, rank, { op: 'link-set', name: d.name, hairpin: d.hairpin === true, what: `setting hairpin on bridge port ${d.name}` });
    }
  },
};

/** The tag a link carries in the kernel: none yet for one claimed as weft's after a crash (claim.ts). */
function tagOf(l: KLink): string {
  return l.untagged ? '' : (l.alias ?? '');
}

function peerEntry(ns: string, l: { name: string; mac: string; mtu: number; up: boolean; addrgenmode?: string }, owner: VethPeerEntry['owner']): VethPeerEntry {
  return {
    kind: 'veth-peer',
    ns,
    name: l.name,
    mac: l.mac,
    mtu: l.mtu,
    up: l.up,
    addrgenmode: l.addrgenmode === 'none' ? 'none' : 'eui64',
    owner,
  };
}

function vxlanEntry(l: KLink, owner: Owner): VxlanEntry {
  const info = l.info ?? {};
  const e: VxlanEntry = {
    kind: 'vxlan',
    ns: HOST,
    name: l.name,
    alias: tagOf(l),
    mtu: l.mtu,
    up: l.up,
    vni: Number(info['id'] ?? 0),
    dstport: Number(info['port'] ?? 0),
    learning: info['learning'] === true,
    proxy: info['proxy'] === true,
    owner,
  };
  if (l.master) e.master = l.master;
  if (typeof info['local'] === 'string') e.local = info['local'];
  if (l.addrgenmode === 'none') e.addrgenmode = 'none';
  return e;
}

/** The name of the host link with this ifindex (a VLAN's or macvlan's parent). */
function hostLinkName(obs: Observation, ifindex: number | undefined): string {
  return obs.hostSnapshot.links.find((h) => h.ifindex === ifindex)?.name ?? '(missing)';
}

function vlanEntry(l: KLink, owner: Owner, obs: Observation): VlanEntry {
  return { kind: 'vlan', ns: HOST, name: l.name, alias: tagOf(l), up: l.up, parent: hostLinkName(obs, l.linkIndex), vlanId: Number(l.info?.['id'] ?? 0), owner };
}

function macvlanEntry(ns: string, l: KLink, owner: Owner, obs: Observation): MacvlanEntry {
  const mode = MACVLAN_MODES.find((m) => m === l.info?.['mode']) ?? 'bridge';
  return {
    kind: 'macvlan',
    ns,
    name: l.name,
    alias: tagOf(l),
    parent: hostLinkName(obs, l.linkIndex),
    mode,
    mac: l.mac,
    mtu: l.mtu,
    up: l.up,
    addrgenmode: l.addrgenmode === 'none' ? 'none' : 'eui64',
    owner,
  };
}

/** `ip link add ... netns X` takes a netns name or a pid: /proc/<pid>/ns/net becomes the pid. */
function netnsArgument(key: string, path: string | null): string {
  const m = path ? /^\/proc\/(\d+)\/ns\/net$/.exec(path) : null;
  if (m?.[1]) return m[1];
  const named = path ? /^\/run\/netns\/([^/]+)$/.exec(path) : null;
  return named?.[1] ?? key;
}

