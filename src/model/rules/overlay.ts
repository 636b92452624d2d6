import type { Problem } from '../../errors.js';
import { problemAt, sub } from '../build.js';
import { GWBRIDGE, VNI_MAX, declaredVnis, vniOf } from '../overlay.js';
import type { Model } from '../types.js';
import { Opt } from '../types.js';

/** vxlanid_list holds one VXLAN id from 1 to 16777215 (weft runs one VXLAN device per network). */
export function overlayVnis(model: Model): Problem[] {
  const out: Problem[] = [];
  const seen = new Map<number, string>();
  for (const n of model.networks.values()) {
    if (n.driver !== 'overlay' || !n.src) continue;
    const at = sub(n.src, 'spec', 'options', Opt.vxlanIdList);
    const ids = declaredVnis(n);
    if (ids !== undefined && (ids.length !== 1 || !ids.every((v) => Number.isInteger(v) && v >= 1 && v <= VNI_MAX))) {
      out.push(problemAt(at, 'BAD_OPTION', `network "${n.name}": ${Opt.vxlanIdList} is "${n.options[Opt.vxlanIdList]}"`, `write one VXLAN id from 1 to ${VNI_MAX}, e.g. "4097"`));
      continue;
    }
    const vni = vniOf(n);
    const other = seen.get(vni);
    if (other !== undefined) {
      out.push(problemAt(ids ? at : sub(n.src, 'metadata', 'name'), 'VNI_IN_USE', `network "${n.name}": VXLAN id ${vni} is also network "${other}"'s`, `set ${Opt.vxlanIdList} to an id of its own`));
    } else seen.set(vni, n.name);
  }
  return out;
}

/**
 * With several hosts, a container on an overlay network names the host that runs it: one
 * without a host would be created on every node, with the same address on all of them.
 */
export function overlayPlacement(model: Model): Problem[] {
  if (model.hosts.size < 2) return [];
  const out: Problem[] = [];
  for (const c of model.containers.values()) {
    if (c.host !== undefined) continue;
    const overlay = c.endpoints.find((e) => model.networks.get(e.network)?.driver === 'overlay');
    if (!overlay) continue;
    out.push(problemAt(sub(c.src, 'spec'), 'HOST_REQUIRED', `container "${c.name}" is on overlay network "${overlay.network}" but names no host`, `set spec.host to one of: ${[...model.hosts.keys()].sort().join(', ')}`));
  }
  return out;
}

/** A declared docker_gwbridge is what Docker makes it: a bridge network with a way out. */
export function gwbridgeShape(model: Model): Problem[] {
  const n = model.networks.get(GWBRIDGE);
  if (!n?.src) return [];
  if (n.driver !== 'bridge') {
    return [problemAt(sub(n.src, 'spec', 'driver'), 'GWBRIDGE_DRIVER', `network "${GWBRIDGE}" uses driver "${n.driver}"`, 'docker_gwbridge gives overlay containers their way out: use the bridge driver')];
  }
  if (n.internal) {
    return [problemAt(sub(n.src, 'spec', 'internal'), 'GWBRIDGE_DRIVER', `network "${GWBRIDGE}" is internal`, 'docker_gwbridge gives overlay containers their way out: remove internal: true')];
  }
  return [];
}

/** Docker encrypts an overlay with IPsec when asked to; weft does not, and says so instead of ignoring it. */
export function overlayEncryption(model: Model): Problem[] {
  const out: Problem[] = [];
  for (const n of model.networks.values()) {
    if (n.driver !== 'overlay' || !n.src || n.options['encrypted'] === undefined) continue;
    out.push(problemAt(sub(n.src, 'spec', 'options', 'encrypted'), 'UNSUPPORTED_OPTION', `network "${n.name}": weft does not encrypt overlay traffic (Docker's "encrypted" uses IPsec)`, 'remove the option, or carry the underlay over an encrypted link'));
  }
  return out;
}
