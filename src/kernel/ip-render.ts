import { checkFdbOp, checkIpOp } from './guard.js';
import type { FdbOp, IpOp } from './types.js';

/**
 * Renders typed operations as `ip -batch` lines. Every token is checked first (guard.ts: an
 * interface name, an address, a MAC, a number...), so text that slipped past validation throws
 * KernelInputError instead of becoming a second line; aliases are quoted. Pure.
 */
export function renderIpOp(op: IpOp): string {
  checkIpOp(op);
  switch (op.op) {
    case 'link-add-bridge':
      return `link add ${op.name} mtu ${op.mtu} type bridge`;
    case 'link-add-veth': {
      const master = op.master ? ` master ${op.master}` : '';
      // Created straight into the peer's namespace: moving a link later costs ~20 ms (RCU wait).
      // Not up yet: address generation mode must be set first (link add does not take it).
      return `link add ${op.name} mtu ${op.mtu}${master} type veth peer name ${op.peer.name} netns ${op.peer.netns} address ${op.peer.mac} mtu ${op.peer.mtu}`;
    }
    case 'link-set': {
      const parts = [`link set dev ${op.name}`];
      if (op.addrgenmode !== undefined) parts.push(`addrgenmode ${op.addrgenmode}`);
      if (op.mac !== undefined) parts.push(`address ${op.mac}`);
      if (op.mtu !== undefined) parts.push(`mtu ${op.mtu}`);
      if (op.master !== undefined) parts.push(op.master === null ? 'nomaster' : `master ${op.master}`);
      if (op.alias !== undefined) parts.push(`alias ${quote(op.alias)}`);
      if (op.up !== undefined) parts.push(op.up ? 'up' : 'down');
      // Port options follow "type bridge_slave", which takes the rest of the line: keep it last.
      if (op.hairpin !== undefined) parts.push(`type bridge_slave hairpin ${op.hairpin ? 'on' : 'off'}`);
      return parts.join(' ');
    }
    case 'link-add-vxlan': {
      const local = op.local ? ` local ${op.local}` : '';
      // learning and proxy can only be set at creation ("vxlan: cannot change PROXY flag").
      return `link add ${op.name} mtu ${op.mtu} type vxlan id ${op.vni} dstport ${op.dstport}${local}${op.learning ? '' : ' nolearning'}${op.proxy ? ' proxy' : ''}`;
    }
    case 'link-add-vlan':
      return `link add link ${op.parent} name ${op.name} type vlan id ${op.vlanId}`;
    case 'link-add-macvlan':
      // Created straight into the container's namespace under its final name (no costly move).
      return `link add ${op.name} link ${op.parent} address ${op.mac} mtu ${op.mtu} netns ${op.netns} type macvlan mode ${op.mode}`;
    case 'link-del':
      return `link del dev ${op.name}`;
    case 'link-move':
      // One request: the kernel moves the link, then renames it inside its new namespace.
      return `link set dev ${op.name} netns ${op.netns} name ${op.newName}`;
    case 'neigh-replace':
      return `neigh replace ${op.address} lladdr ${op.lladdr} dev ${op.dev} nud permanent proto ${op.proto}`;
    case 'neigh-del':
      return `neigh del ${op.address} dev ${op.dev}`;
    case 'addr-add':
    case 'addr-replace':
      return `addr ${op.op === 'addr-add' ? 'add' : 'replace'} ${op.cidr} dev ${op.dev}${op.nodad ? ' nodad' : ''}`;
    case 'addr-del':
      return `addr del ${op.cidr} dev ${op.dev}`;
    case 'route-replace':
    case 'route-del': {
      const verb = op.op === 'route-replace' ? 'replace' : 'del';
      const via = op.via ? ` via ${op.via}` : '';
      // ip -batch takes no per-line -6; the family follows from the addresses, and "default"
      // needs an explicit ::/0 for IPv6.
      const dst = op.family === 6 && op.dst === 'default' ? '::/0' : op.dst;
      return `route ${verb} ${dst}${via} dev ${op.dev} proto ${op.proto}`;
    }
  }
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Renders a forwarding-table operation as a `bridge -batch` line. Pure. */
export function renderFdbOp(op: FdbOp): string {
  checkFdbOp(op);
  // "append" also adds a second destination for 00:00:00:00:00:00 (one per peer); an identical
  // entry is accepted again, so the write is idempotent.
  return op.op === 'fdb-append'
    ? `fdb append ${op.mac} dev ${op.dev} dst ${op.dst} self permanent`
    : `fdb del ${op.mac} dev ${op.dev} dst ${op.dst} self`;
}
