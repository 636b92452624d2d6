import type { Problem } from '../../errors.js';
import { problemAt, sub } from '../build.js';
import { checkCniConfig } from '../cni-config.js';
import type { Model } from '../types.js';

/** The driver name of CNI networks. */
export const CNI_DRIVER = 'cni';

/**
 * CNI networks: exactly one of spec.cni.config (checked here) and spec.cni.conflist (a file name,
 * checked when plugins run: validate reads no file the manifests name); no weft IPAM (the
 * configuration's ipam plugin gives addresses); spec.cni only with driver cni.
 */
export function cniNetworks(model: Model): Problem[] {
  const out: Problem[] = [];
  for (const n of model.networks.values()) {
    if (!n.src) continue;
    if (n.driver !== CNI_DRIVER) {
      if (n.cni) out.push(problemAt(n.cni.src, 'CNI_WRONG_DRIVER', `network "${n.name}": spec.cni is for driver cni, not "${n.driver}"`, 'set driver: cni, or remove spec.cni', true));
      continue;
    }
    const given = n.cni ? [n.cni.config, n.cni.conflist].filter((x) => x !== undefined).length : 0;
    if (!n.cni || given !== 1) {
      out.push(problemAt(n.cni?.src ?? sub(n.src, 'spec'), 'CNI_CONFIG_REQUIRED', `cni network "${n.name}" needs exactly one of spec.cni.config and spec.cni.conflist`, 'give the configuration list inline (cni.config) or name a file in /etc/cni/net.d (cni.conflist)'));
      continue;
    }
    if (n.pools.length > 0) {
      out.push(problemAt(sub(n.src, 'spec', 'ipam'), 'CNI_IPAM', `cni network "${n.name}" declares ipam.config`, 'addresses come from the ipam plugin of the CNI configuration: set the subnet there and remove ipam'));
    }
    if (n.cni.config !== undefined) {
      for (const p of checkCniConfig(n.cni.config, n.name)) out.push(problemAt(sub(n.cni.src, 'config', ...p.path), p.code, p.message, p.hint));
    }
  }
  return out;
}
