import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command, ToolContext } from '../lib/context.js';
import type { BenchContainer } from '../lib/topology.js';
import { CHANGED_HOST_PORT, CONTAINER_PORT, PUBLISH, container, containers, networks } from '../lib/topology.js';
import { checkContainer } from './verify.js';

/**
 * The floor: the same topology written blind, with the fastest commands found on this machine
 * (notes/peer-baselines.md): one `ip -batch` of `netns add`, one host batch creating every veth
 * straight into its namespace (master and up in the same line), one `ip -batch` per container
 * entered with `nsenter --net=` (addrgenmode none, no IPv6 chatter), 2 at a time, and one
 * `nft -f` transaction with the published ports as map elements. No observation, no ownership
 * tags, no /etc/netns files, no verification: what any tool must at least spend.
 */

const TABLE = 'bxfloor';

function hostBatch(cs: readonly BenchContainer[], ns: (c: BenchContainer) => string, withBridges: boolean): string {
  const lines: string[] = [];
  if (withBridges) {
    for (const n of networks()) {
      lines.push(`link add bxbr${n.index} type bridge`, `addr add ${n.gateway}/${n.prefixLen} dev bxbr${n.index}`, `link set bxbr${n.index} up`);
    }
  }
  for (const c of cs) lines.push(`link add vh${c.index} master bxbr${c.network.index} up type veth peer name eth0 netns ${ns(c)} address ${c.mac}`);
  return `${lines.join('\n')}\n`;
}

function containerBatch(c: BenchContainer): string {
  return [
    'link set dev eth0 addrgenmode none up',
    'link set dev lo up',
    `addr add ${c.ip}/${c.network.prefixLen} dev eth0`,
    `route add default via ${c.network.gateway} dev eth0`,
    '',
  ].join('\n');
}

const element = (c: BenchContainer) => `${c.hostPort} : ${c.ip} . ${CONTAINER_PORT}`;

function portsRuleset(cs: readonly BenchContainer[]): string {
  const masq = networks()
    .map((n) => n.subnet)
    .join(', ');
  return `table ip ${TABLE} {
  map pub { type inet_service : ipv4_addr . inet_service; ${cs.length > 0 ? `elements = { ${cs.map(element).join(', ')} }` : ''} }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local dnat ip to tcp dport map @pub; }
  chain output { type nat hook output priority -100; policy accept; fib daddr type local dnat ip to tcp dport map @pub; }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; ip saddr { ${masq} } oifname != "bxbr*" masquerade; }
}
`;
}

export async function runFloor(ctx: ToolContext): Promise<void> {
  const host = await ctx.sandbox.hostNamespace(`${ctx.sandbox.peerPrefix}fl${ctx.run < 0 ? 'p' : ctx.run}`);
  try {
    const work = await ctx.sandbox.sub(`floor-${ctx.n}-${ctx.run}`);
    const ns = (c: BenchContainer) => `${host}-${c.name}`;
    const file = async (name: string, text: string) => {
      const f = path.join(work, name);
      await writeFile(f, text);
      return f;
    };
    const inHost = ['nsenter', `--net=/run/netns/${host}`];
    const all = containers(ctx.n);
    const extra = container(ctx.n);
    const moved = container(0, CHANGED_HOST_PORT);

    // Everything as one bash script, so wall time, CPU and peak RSS cover the whole plan.
    const script = async (name: string, body: string): Promise<Command> => ({ argv: ['bash', await file(name, `set -e\n${body}`)], driverExecs: 1 });
    const perContainer = async (cs: readonly BenchContainer[]) => {
      const args: string[] = [];
      for (const c of cs) args.push(`--net=/run/netns/${ns(c)} ip -batch ${await file(`${c.name}.batch`, containerBatch(c))}`);
      return file(`containers-${cs.length}.args`, `${args.join('\n')}\n`);
    };

    const cold = await script(
      'cold.sh',
      [
        `ip -batch ${await file('netns.batch', all.map((c) => `netns add ${ns(c)}\n`).join(''))}`,
        `${inHost.join(' ')} ip -batch ${await file('host.batch', hostBatch(all, ns, true))}`,
        `xargs -P ${ctx.cfg.floorParallel} -L 1 nsenter < ${await perContainer(all)}`,
        PUBLISH ? `${inHost.join(' ')} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward && exec nft -f ${await file('ports.nft', portsRuleset(all))}'` : '',
        '',
      ].join('\n'),
    );
    await ctx.step('cold', [cold]);
    await checkContainer(ns(all[0]!));
    await checkContainer(ns(all.at(-1)!));

    const add = await script(
      'add.sh',
      [
        `ip netns add ${ns(extra)}`,
        `${inHost.join(' ')} ip -batch ${await file('host-extra.batch', hostBatch([extra], ns, false))}`,
        `nsenter --net=/run/netns/${ns(extra)} ip -batch ${await file(`${extra.name}.batch`, containerBatch(extra))}`,
        PUBLISH ? `${inHost.join(' ')} nft add element ip ${TABLE} pub '{ ${element(extra)} }'` : '',
        '',
      ].join('\n'),
    );
    await ctx.step('add', [add]);
    await checkContainer(ns(extra));

    const remove = await script('remove.sh', `${PUBLISH ? `${inHost.join(' ')} nft delete element ip ${TABLE} pub '{ ${extra.hostPort} }'\n` : ''}ip netns del ${ns(extra)}\n`);
    await ctx.step('remove', [remove]);

    if (PUBLISH) {
      const nftPort = await file('port.nft', `delete element ip ${TABLE} pub { ${all[0]!.hostPort} }\nadd element ip ${TABLE} pub { ${element(moved)} }\n`);
      await ctx.step('port', [{ argv: [...inHost, 'nft', '-f', nftPort] }]);
    }

    const destroy = await script(
      'destroy.sh',
      [
        `ip -batch ${await file('netns-del.batch', all.map((c) => `netns del ${ns(c)}\n`).join(''))}`,
        `${inHost.join(' ')} ip -batch ${await file('host-del.batch', networks().map((n) => `link del bxbr${n.index}\n`).join(''))}`,
        PUBLISH ? `${inHost.join(' ')} nft delete table ip ${TABLE}` : '',
        '',
      ].join('\n'),
    );
    await ctx.step('destroy', [destroy]);
  } finally {
    await ctx.sandbox.removeNamespaces(host);
  }
}
