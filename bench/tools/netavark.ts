import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ToolContext } from '../lib/context.js';
import type { BenchContainer, BenchNetwork } from '../lib/topology.js';
import { CHANGED_HOST_PORT, CONTAINER_PORT, PUBLISH, container, containers } from '../lib/topology.js';
import { hexId, hostScript, iptablesMention, netnsAdd, netnsDel, quietly } from './peer-common.js';
import { checkContainer } from './verify.js';

/**
 * netavark (Podman's network stack; Debian 12 ships 1.4, iptables driver): `netavark setup` per
 * container with one published port, `teardown` to remove. Options JSON as in netavark's own
 * test files (see notes/peer-baselines.md).
 */

export const NETAVARK = '/usr/lib/podman/netavark';

function networkInfo(n: BenchNetwork) {
  return {
    name: n.name,
    id: hexId(n.name),
    driver: 'bridge',
    network_interface: `bxbr${n.index}`,
    subnets: [{ subnet: n.subnet, gateway: n.gateway }],
    ipv6_enabled: false,
    internal: false,
    dns_enabled: false,
    ipam_options: { driver: 'host-local' },
  };
}

function options(c: BenchContainer) {
  return {
    container_id: hexId(c.name),
    container_name: c.name,
    port_mappings: PUBLISH ? [{ host_ip: '', container_port: CONTAINER_PORT, host_port: c.hostPort, range: 1, protocol: 'tcp' }] : [],
    networks: { [c.network.name]: { static_ips: [c.ip], interface_name: 'eth0' } },
    network_info: { [c.network.name]: networkInfo(c.network) },
  };
}

export async function runNetavark(ctx: ToolContext): Promise<void> {
  const host = await ctx.sandbox.hostNamespace(`${ctx.sandbox.peerPrefix}nv${ctx.run < 0 ? 'p' : ctx.run}`);
  try {
    const work = await ctx.sandbox.sub(`netavark-${ctx.n}-${ctx.run}`);
    const cfg = path.join(work, 'config');
    await mkdir(cfg);
    const ns = (c: BenchContainer) => `${host}-${c.name}`;
    const opts = async (c: BenchContainer, tag = '') => {
      const f = path.join(work, `${c.name}${tag}.json`);
      await writeFile(f, JSON.stringify(options(c)));
      return f;
    };
    const call = (verb: 'setup' | 'teardown', c: BenchContainer, file: string) => `${NETAVARK} --config ${cfg} ${verb} /run/netns/${ns(c)} < ${file} >/dev/null\n`;
    const all = containers(ctx.n);
    const extra = container(ctx.n);
    const files = new Map<string, string>();
    for (const c of [...all, extra]) files.set(c.name, await opts(c));
    const moved = container(0, CHANGED_HOST_PORT);
    const movedFile = await opts(moved, '-moved');

    const setupAll = await hostScript(ctx, host, all.map((c) => call('setup', c, files.get(c.name)!)).join(''));
    await ctx.step('cold', [netnsAdd(all.map(ns)), setupAll]);
    await checkContainer(ns(all[0]!));
    await checkContainer(ns(all.at(-1)!));
    if (PUBLISH && !(await iptablesMention(host, all[0]!.hostPort))) throw new Error('netavark: the published port is not in iptables');

    await ctx.step('add', [netnsAdd([ns(extra)]), await hostScript(ctx, host, call('setup', extra, files.get(extra.name)!))]);
    await checkContainer(ns(extra));
    await ctx.step('remove', [await hostScript(ctx, host, call('teardown', extra, files.get(extra.name)!)), netnsDel([ns(extra)])]);
    // A published port of a running container cannot be changed: the engine tears it down and sets it up again.
    if (PUBLISH) {
      await ctx.step('port', [await hostScript(ctx, host, call('teardown', all[0]!, files.get(all[0]!.name)!) + call('setup', moved, movedFile))]);
      ctx.note('port', 'netavark and CNI cannot change a port in place: teardown + setup of the container');
    }
    const current = PUBLISH ? [moved, ...all.slice(1)] : all;
    const teardownAll = async () => hostScript(ctx, host, current.map((c) => call('teardown', c, c === moved ? movedFile : files.get(c.name)!)).join(''));
    if (ctx.cfg.peerDestroy) await ctx.step('destroy', [await teardownAll(), netnsDel(all.map(ns))]);
    else await quietly(netnsDel(all.map(ns)));
  } finally {
    await ctx.sandbox.removeNamespaces(host);
  }
}
