import type { Problem } from '../../errors.js';
import { parseIp } from '../../net/cidr.js';
import { problemAt, sub } from '../build.js';
import type { Model } from '../types.js';
import { Opt } from '../types.js';

const booleans = [Opt.enableIcc, Opt.enableMasquerade];

/** Docker options that weft interprets must have values weft can use. */
export function optionValues(model: Model): Problem[] {
  const out: Problem[] = [];
  for (const n of model.networks.values()) {
    const src = n.src;
    if (!n.declared || !src) continue;
    const at = (k: string) => sub(src, 'spec', 'options', k);
    for (const k of booleans) {
      const v = n.options[k];
      if (v !== undefined && v !== 'true' && v !== 'false') {
        out.push(problemAt(at(k), 'BAD_OPTION', `network "${n.name}": option ${k} is "${v}"`, 'write "true" or "false"'));
      }
    }
    const mtu = n.options[Opt.mtu];
    if (mtu !== undefined && (!/^\d+$/.test(mtu) || Number(mtu) < 68 || Number(mtu) > 65535)) {
      out.push(problemAt(at(Opt.mtu), 'BAD_OPTION', `network "${n.name}": MTU "${mtu}" is not a number from 68 to 65535`, 'write e.g. "1450"'));
    }
    for (const k of [Opt.gatewayModeIpv4, Opt.gatewayModeIpv6]) {
      const v = n.options[k];
      if (v !== undefined && v !== 'nat' && v !== 'routed') {
        out.push(problemAt(at(k), 'BAD_OPTION', `network "${n.name}": option ${k} is "${v}"`, 'write "nat" (the default) or "routed"'));
      }
    }
    const bind = n.options[Opt.hostBindingIpv4];
    if (bind !== undefined && parseIp(bind)?.family !== 4) {
      out.push(problemAt(at(Opt.hostBindingIpv4), 'BAD_OPTION', `network "${n.name}": ${Opt.hostBindingIpv4} "${bind}" is not an IPv4 address`, 'write e.g. "0.0.0.0" or "127.0.0.1"'));
    }
  }
  return out;
}
