import type { Problem } from '../../errors.js';
import { canonicalIp, parseIp } from '../../net/cidr.js';
import { problemAt } from '../build.js';
import type { Model } from '../types.js';

/**
 * Published ports: not on host/none networks, not on internal-only containers, not on an IPv6
 * host address when the container has no IPv6 where its ports go (Docker would use its userland
 * proxy there; weft has none), and no host port published twice for one protocol and address.
 */
export function publishedPorts(model: Model): Problem[] {
  const out: Problem[] = [];
  const taken = new Map<string, string>(); // "host|proto|port" ("*4"/"*6" for any) -> "container (text)"
  // "family|proto|port" -> the first holder on any address of that family: what a wildcard bind clashes with.
  const firstHolder = new Map<string, string>();
  for (const c of model.containers.values()) {
    if (c.ports.length === 0) continue;
    const nets = c.endpoints.map((e) => model.networks.get(e.network)).filter((n) => n !== undefined);
    for (const p of c.ports) {
      const onlyInternal = nets.length > 0 && nets.every((n) => n.internal);
      // Ports go to the first non-internal network by name (compile's publishEndpoint).
      const gateway = [...nets].filter((n) => !n.internal).sort((a, b) => a.name.localeCompare(b.name))[0];
      if (nets.some((n) => n.driver === 'host' || n.driver === 'null')) {
        out.push(problemAt(p.src, 'PORT_NO_NETWORK', `container "${c.name}": port "${p.text}" on a container of the ${nets[0]?.name} network`, 'remove the port: host-network containers use host ports directly, none has no network'));
        continue;
      }
      const hostIp6 = p.hostIp !== undefined ? parseIp(p.hostIp) : undefined;
      if (hostIp6?.family === 6 && hostIp6.value === 1n) {
        out.push(problemAt(p.src, 'PORT_IPV6_LOOPBACK', `container "${c.name}": port "${p.text}" binds ::1`, 'the kernel does not route ::1 to a container and weft has no userland proxy; bind [::] or a host IPv6 address'));
        continue;
      }
      if (hostIp6?.family === 6 && gateway !== undefined && !gateway.enableIPv6) {
        out.push(problemAt(p.src, 'PORT_IPV6', `container "${c.name}": port "${p.text}" binds the IPv6 address ${p.hostIp}, but its ports go to network "${gateway.name}", which has no IPv6`, 'set enableIPv6: true on that network, or bind an IPv4 address or none'));
        continue;
      }
      if (onlyInternal) {
        out.push(problemAt(p.src, 'PORT_ON_INTERNAL', `container "${c.name}": port "${p.text}" but the container is only on internal networks`, 'internal networks take no inbound traffic; remove the port or add a non-internal network'));
        continue;
      }
      for (let port = p.hostPort; port <= p.hostPortEnd; port++) {
        // "Any address" of a family clashes with every address of that family: key wildcard binds
        // on family and port, without a scan of every taken port per bind.
        const binds = bindsOf(p.hostIp);
        const clash = binds
          .flatMap((b) => (b.ip === undefined ? [taken.get(`*${b.family}|${p.protocol}|${port}`), firstHolder.get(`${b.family}|${p.protocol}|${port}`)] : [taken.get(`${b.ip}|${p.protocol}|${port}`), taken.get(`*${b.family}|${p.protocol}|${port}`)]))
          .find((v) => v !== undefined);
        if (clash !== undefined) {
          out.push(problemAt(p.src, 'PORT_IN_USE', `container "${c.name}": host port ${port}/${p.protocol} is already published by ${clash}`, 'publish another host port'));
          break;
        }
        const holder = `container "${c.name}" ("${p.text}")`;
        for (const b of binds) {
          taken.set(`${b.ip ?? `*${b.family}`}|${p.protocol}|${port}`, holder);
          if (!firstHolder.has(`${b.family}|${p.protocol}|${port}`)) firstHolder.set(`${b.family}|${p.protocol}|${port}`, holder);
        }
      }
    }
  }
  return out;
}

/** The host addresses a port binds: none given is any address of both families (as Docker). */
function bindsOf(hostIp: string | undefined): { family: 4 | 6; ip?: string }[] {
  const parsed = hostIp !== undefined ? parseIp(hostIp) : undefined;
  if (hostIp === undefined || parsed === undefined) return [{ family: 4 }, { family: 6 }];
  return parsed.value === 0n ? [{ family: parsed.family }] : [{ family: parsed.family, ip: canonicalIp(hostIp) }];
}
