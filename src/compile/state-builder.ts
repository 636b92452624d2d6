import type {
  AddressEntry,
  FdbEntry,
  FileEntry,
  KernelState,
  LinkEntry,
  NeighEntry,
  NetnsEntry,
  NftEntry,
  RouteEntry,
  SysctlEntry,
} from '../state/types.js';
import { emptyState, ids } from '../state/types.js';

/** Collects desired entries under their stable ids. */
export class StateBuilder {
  readonly state: KernelState = emptyState();

  netns(e: NetnsEntry): void {
    this.state.netns[ids.netns(e.name)] = e;
  }
  link(e: LinkEntry): void {
    this.state.links[ids.link(e.ns, e.name)] = e;
  }
  address(e: AddressEntry): void {
    this.state.addresses[ids.address(e.ns, e.dev, e.cidr)] = e;
  }
  route(e: RouteEntry): void {
    this.state.routes[ids.route(e.ns, e.family, e.dst)] = e;
  }
  sysctl(e: SysctlEntry): void {
    this.state.sysctls[ids.sysctl(e.ns, e.path)] = e;
  }
  file(e: FileEntry): void {
    this.state.files[ids.file(e.path)] = e;
  }
  fdb(e: FdbEntry): void {
    this.state.fdb[ids.fdb(e.ns, e.dev, e.mac, e.dst)] = e;
  }
  neigh(e: NeighEntry): void {
    this.state.neigh[ids.neigh(e.ns, e.dev, e.address)] = e;
  }
  nft(e: NftEntry): void {
    this.state.nftables[ids.nft(e)] = e;
  }
}
