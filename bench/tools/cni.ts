import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ToolContext } from '../lib/context.js';
import type { BenchContainer, BenchNetwork } from '../lib/topology.js';
import { CHANGED_HOST_PORT, CONTAINER_PORT, PUBLISH, container, containers, networks } from '../lib/topology.js';
import { hexId, hostScript, iptablesMention, netnsAdd, netnsDel, quietly } from './peer-common.js';
import { checkContainer } from './verify.js';

/**
 * The CNI reference plugins (containerd's and CRI-O's default): `bridge` with host-local IPAM and
 * ipMasq, chained with `portmap` for the published port, as a runtime calls them: ADD of bridge,
 * then ADD of portmap with bridge's result as prevResult; DEL in reverse order.
 */

const CNI_PATH = '/usr/lib/cni';

function bridgeConf(n: BenchNetwork, dataDir: string) {
  return {
    cniVersion: '1.0.0',
    name: n.name,
    type: 'bridge',
    bridge: `bxbr${n.index}`,
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: n.subnet, gateway: n.gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
  };
}

/** portmap's config without its closing brace: the script appends bridge's result as prevResult. */
function portmapHead(c: BenchContainer): string {
  const conf = {
    cniVersion: '1.0.0',
    name: c.network.name,
    type: 'portmap',
    capabilities: { portMappings: true },
    snat: true,
    runtimeConfig: { portMappings: [{ hostPort: c.hostPort, containerPort: CONTAINER_PORT, protocol: 'tcp' }] },
  };
  return `${JSON.stringify(conf).slice(0, -1)},"prevResult":`;
}

export async function runCni(ctx: ToolContext): Promise<void> {
  const host = await ctx.sandbox.hostNamespace(`${ctx.sandbox.peerPrefix}cn${ctx.run < 0 ? 'p' : ctx.run}`);
  try {
    const work = await ctx.sandbox.sub(`cni-${ctx.n}-${ctx.run}`);
    await mkdir(path.join(work, 'ipam'));
    for (const n of networks()) await writeFile(path.join(work, `${n.name}.json`), JSON.stringify(bridgeConf(n, path.join(work, 'ipam'))));
    const ns = (c: BenchContainer) => `${host}-${c.name}`;
    const env = (cmd: 'ADD' | 'DEL', c: BenchContainer) => `CNI_COMMAND=${cmd} CNI_CONTAINERID=${hexId(c.name)} CNI_NETNS=/run/netns/${ns(c)}`;
    const add = (c: BenchContainer) =>
      `r=$(${env('ADD', c)} ${CNI_PATH}/bridge < ${work}/${c.network.name}.json)\n` +
      (PUBLISH ? `printf '%s%s}' '${portmapHead(c)}' "$r" | ${env('ADD', c)} ${CNI_PATH}/portmap >/dev/null\n` : '') +
      // A runtime caches the result for DEL; so does this script.
      `printf '%s' "$r" > ${work}/${c.name}.result\n`;
    const del = (c: BenchContainer) =>
      (PUBLISH ? `printf '%s%s}' '${portmapHead(c)}' "$(< ${work}/${c.name}.result)" | ${env('DEL', c)} ${CNI_PATH}/portmap >/dev/null\n` : '') +
      `${env('DEL', c)} ${CNI_PATH}/bridge < ${work}/${c.network.name}.json >/dev/null\n`;
    const script = (body: string) => hostScript(ctx, host, `export CNI_PATH=${CNI_PATH} CNI_IFNAME=eth0\n${body}`);

    const all = containers(ctx.n);
    const extra = container(ctx.n);
    const moved = container(0, CHANGED_HOST_PORT);

    await ctx.step('cold', [netnsAdd(all.map(ns)), await script(all.map(add).join(''))]);
    await checkContainer(ns(all[0]!));
    await checkContainer(ns(all.at(-1)!));
    if (PUBLISH && !(await iptablesMention(host, all[0]!.hostPort))) throw new Error('CNI portmap: the published port is not in iptables');

    await ctx.step('add', [netnsAdd([ns(extra)]), await script(add(extra))]);
    await checkContainer(ns(extra));
    await ctx.step('remove', [await script(del(extra)), netnsDel([ns(extra)])]);
    if (PUBLISH) await ctx.step('port', [await script(del(all[0]!) + add(moved))]);
    const current = PUBLISH ? [moved, ...all.slice(1)] : all;
    if (ctx.cfg.peerDestroy) await ctx.step('destroy', [await script([...current].reverse().map(del).join('')), netnsDel(all.map(ns))]);
    else await quietly(netnsDel(all.map(ns)));
  } finally {
    await ctx.sandbox.removeNamespaces(host);
  }
}
