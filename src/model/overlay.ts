import type { Network } from './types.js';
import { Opt } from './types.js';
import { MACVLAN_MODES } from '../naming.js';
import type { MacvlanMode } from '../naming.js';

/** VXLAN network identifiers are 24 bits; Docker hands out its own from 4096 up. */
export const VNI_MAX = 16_777_215;
const VNI_AUTO_BASE = 4096;

/**
 * The VXLAN ids of com.docker.network.driver.overlay.vxlanid_list ("256" or "256,257"), or
 * undefined when the option is absent. Entries that are not whole numbers come back as NaN, so
 * the validation rule can name them.
 */
export function declaredVnis(n: Network): number[] | undefined {
  const v = n.options[Opt.vxlanIdList];
  if (v === undefined) return undefined;
  return v.split(',').map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : Number.NaN));
}

/**
 * The VNI of an overlay network: the declared one, else derived from the network id (itself
 * derived from the name), so every host computes the same VNI from the manifests alone.
 */
export function vniOf(n: Network): number {
  const declared = declaredVnis(n)?.[0];
  if (declared !== undefined && Number.isInteger(declared)) return declared;
  return VNI_AUTO_BASE + (parseInt(n.id.slice(0, 8), 16) % (VNI_MAX - VNI_AUTO_BASE));
}

/** A macvlan parent such as "eth0.50": the 802.1q sub-interface of eth0 for VLAN 50. */
export function vlanParent(parent: string): { base: string; vlanId: number } | undefined {
  const m = /^(.+)\.(\d+)$/.exec(parent);
  if (!m?.[1] || !m[2]) return undefined;
  const vlanId = Number(m[2]);
  return vlanId >= 1 && vlanId <= 4094 ? { base: m[1], vlanId } : undefined;
}

export { MACVLAN_MODES };
export type { MacvlanMode };

/** The macvlan mode of a network (Docker's default is bridge). */
export function macvlanMode(n: Network): MacvlanMode {
  return MACVLAN_MODES.find((m) => m === n.options[Opt.macvlanMode]) ?? 'bridge';
}

/** The name of the network Docker attaches containers to when their networks give no way out. */
export const GWBRIDGE = 'docker_gwbridge';
