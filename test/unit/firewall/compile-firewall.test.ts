import { describe, expect, it } from 'vitest';
import { builtinDrivers, compile, emptyAllocations } from '../../../src/compile/index.js';
import { InvalidManifestError } from '../../../src/errors.js';
import { modelFromText } from '../../../src/model/index.js';
import { exprText } from '../../../src/nft/index.js';
import type { KernelState, NftElementEntry, NftEntry } from '../../../src/state/types.js';
import { yaml } from '../../support/world.js';

function compileText(text: string, node?: string): KernelState {
  const model = modelFromText([{ file: 'test.yaml', text }]);
  const inputs = { hostNetns: 'h1', allocations: emptyAllocations(), hostResolvConf: '', hostRoutes: [], ...(node ? { node } : {}) };
  return compile(model, inputs, builtinDrivers).desired;
}

/** The host firewall's entries (container namespaces hold the embedded DNS's `ip weft_dns`). */
function nft(state: KernelState): NftEntry[] {
  return Object.values(state.nftables).filter((e) => e.ns === '@host');
}

/** Elements of a set as "key" or "key : value" text, with their owner. */
function elements(state: KernelState, set: string): string[] {
  return nft(state)
    .filter((e): e is NftElementEntry => e.kind === 'element' && e.set === set)
    .map((e) => `${exprText(e.key)}${e.value !== undefined ? ` : ${exprText(e.value)}` : ''} (${e.owner.kind} ${e.owner.name})`)
    .sort();
}

const walkthrough =
  yaml.network('isolated_nw', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') +
  yaml.container('container1') +
  yaml.container('container2', '{networks: [bridge, isolated_nw]}') +
  yaml.container('container3', '{networks: [isolated_nw]}');

describe('compile: the host firewall', () => {
  it('puts every bridge in the isolation sets and masquerades the non-internal ones', () => {
    const s = compileText(walkthrough + yaml.network('vault', '{internal: true}') + yaml.container('safe', '{networks: [vault]}'));
    const br = Object.values(s.links).find((l) => l.kind === 'bridge' && l.owner.name === 'isolated_nw')?.name;
    const vault = Object.values(s.links).find((l) => l.kind === 'bridge' && l.owner.name === 'vault')?.name;
    expect(elements(s, 'bridges')).toEqual([`${br} (network isolated_nw)`, `${vault} (network vault)`, 'docker0 (network bridge)'].sort());
    expect(elements(s, 'same_bridge')).toContain('docker0 . docker0 (network bridge)');
    expect(elements(s, 'masq_bridges')).toEqual([`${br} (network isolated_nw)`, 'docker0 (network bridge)'].sort());
    expect(elements(s, 'internal_bridges')).toEqual([`${vault} (network vault)`]);
    expect(elements(s, 'no_icc_bridges')).toEqual([]);
  });

  it('follows enable_ip_masquerade=false and enable_icc=false', () => {
    const opts = '{options: {com.docker.network.bridge.enable_ip_masquerade: "false", com.docker.network.bridge.enable_icc: "false", com.docker.network.bridge.name: br-quiet}}';
    const s = compileText(yaml.network('quiet', opts) + yaml.container('a', '{networks: [quiet]}'));
    expect(elements(s, 'masq_bridges')).toEqual([]);
    expect(elements(s, 'no_icc_bridges')).toEqual(['br-quiet (network quiet)']);
  });

  it('publishes ports on the container\'s first non-internal network by name, with hairpin and route_localnet', () => {
    const s = compileText(
      yaml.network('zeta') +
        yaml.network('alpha', '{internal: true}') +
        yaml.network('beta', '{ipam: {config: [{subnet: 10.9.0.0/24}]}, options: {com.docker.network.bridge.name: br-beta}}') +
        yaml.container('web', '{networks: [zeta, alpha, beta], ports: ["8080:80", "127.0.0.1:5353:53/udp", "9000-9001:7000-7001"]}'),
    );
    expect(elements(s, 'pub_addr')).toEqual([
      '0.0.0.0/0 . tcp . 8080 : 10.9.0.2 (container web)',
      '0.0.0.0/0 . tcp . 9000 : 10.9.0.2 (container web)',
      '0.0.0.0/0 . tcp . 9001 : 10.9.0.2 (container web)',
      '127.0.0.1 . udp . 5353 : 10.9.0.2 (container web)',
    ]);
    expect(elements(s, 'pub_port')).toEqual([
      '0.0.0.0/0 . tcp . 8080 : 80 (container web)',
      '0.0.0.0/0 . tcp . 9000 : 7000 (container web)',
      '0.0.0.0/0 . tcp . 9001 : 7001 (container web)',
      '127.0.0.1 . udp . 5353 : 53 (container web)',
    ]);
    expect(elements(s, 'self_hairpin')).toEqual(['10.9.0.2 . 10.9.0.2 (container web)']);
    const veths = Object.values(s.links).filter((l) => l.kind === 'veth');
    expect(veths.filter((v) => v.kind === 'veth' && v.hairpin).map((v) => v.kind === 'veth' && v.master)).toEqual(['br-beta']);
    expect(s.sysctls['@host/net/ipv4/conf/br-beta/route_localnet']).toMatchObject({ value: '1', dev: 'br-beta', owner: { kind: 'network', name: 'beta' } });
    expect(Object.keys(s.sysctls).filter((k) => k.startsWith('@host/') && k.includes('route_localnet'))).toHaveLength(1);
  });

  it('publishes on both families by default when the container has IPv6, on one when the port names it', () => {
    const v6 = '{enableIPv6: true, ipam: {config: [{subnet: 10.9.0.0/24}, {subnet: "fd31:9::/64"}]}}';
    const s = compileText(yaml.network('v6', v6) + yaml.container('web', '{networks: [v6], ports: ["8080:80", "[::]:8081:81", "0.0.0.0:8082:82", "[2001:db8::1]:8083-8084:83-84/udp"]}'));
    expect(elements(s, 'pub_addr')).toEqual(['0.0.0.0/0 . tcp . 8080 : 10.9.0.2 (container web)', '0.0.0.0/0 . tcp . 8082 : 10.9.0.2 (container web)']);
    expect(elements(s, 'pub_addr6')).toEqual([
      '::/0 . tcp . 8081 : fd31:9::2 (container web)',
      '::/0 . tcp . 8080 : fd31:9::2 (container web)',
      '2001:db8::1 . udp . 8083 : fd31:9::2 (container web)',
      '2001:db8::1 . udp . 8084 : fd31:9::2 (container web)',
    ].sort());
    expect(elements(s, 'pub_port6')).toContain('2001:db8::1 . udp . 8084 : 84 (container web)');
    expect(elements(s, 'self_hairpin6')).toEqual(['fd31:9::2 . fd31:9::2 (container web)']);
    // A container without IPv6 publishes IPv4 only.
    const v4 = compileText(yaml.container('old', '{ports: ["8080:80"]}'));
    expect(elements(v4, 'pub_addr6')).toEqual([]);
    expect(elements(v4, 'pub_addr')).toHaveLength(1);
  });

  it('gateway_mode_ipv6=routed: no IPv6 masquerade or DNAT; the container port opens at its own address', () => {
    const opts = '{enableIPv6: true, ipam: {config: [{subnet: 10.9.0.0/24}, {subnet: "fd31:9::/64"}]}, options: {com.docker.network.bridge.name: br-r, com.docker.network.bridge.gateway_mode_ipv6: routed}}';
    const s = compileText(yaml.network('r', opts) + yaml.container('web', '{networks: [r], ports: ["8080:80", "9000-9001:7000-7001/udp"]}'));
    expect(elements(s, 'masq_bridges')).toEqual(['br-r (network r)']);
    expect(elements(s, 'masq6_bridges')).toEqual([]);
    expect(elements(s, 'routed6_bridges')).toEqual(['br-r (network r)']);
    expect(elements(s, 'routed4_bridges')).toEqual([]);
    expect(elements(s, 'pub_addr6')).toEqual([]);
    expect(elements(s, 'pub_addr')).toHaveLength(3);
    expect(elements(s, 'routed_open6')).toEqual(['fd31:9::2 . tcp . 80 (container web)', 'fd31:9::2 . udp . 7000 (container web)', 'fd31:9::2 . udp . 7001 (container web)']);
    expect(elements(s, 'routed_open')).toEqual([]);
    // gateway_mode_ipv4 is its IPv4 twin; a NAT network has IPv6 masquerade.
    const v4 = compileText(yaml.network('r', opts.replace('gateway_mode_ipv6', 'gateway_mode_ipv4')) + yaml.container('web', '{networks: [r], ports: ["8080:80"]}'));
    expect(elements(v4, 'masq_bridges')).toEqual([]);
    expect(elements(v4, 'masq6_bridges')).toEqual(['br-r (network r)']);
    expect(elements(v4, 'routed_open')).toEqual(['10.9.0.2 . tcp . 80 (container web)']);
    expect(elements(v4, 'pub_addr')).toEqual([]);
    expect(elements(v4, 'pub_addr6')).toEqual(['::/0 . tcp . 8080 : fd31:9::2 (container web)']);
    expect(() => compileText(yaml.network('r', '{options: {com.docker.network.bridge.gateway_mode_ipv6: nat-unprotected}}'))).toThrow(/BAD_OPTION/);
  });

  it('binds to the network\'s host_binding_ipv4 unless the port names an address', () => {
    const s = compileText(
      yaml.network('n', '{options: {com.docker.network.bridge.host_binding_ipv4: 127.0.0.1}}') +
        yaml.container('a', '{networks: [n], ports: ["8080:80", "0.0.0.0:8081:81/udp", "198.51.100.7:8082:82"]}'),
    );
    expect(elements(s, 'pub_port')).toEqual([
      '0.0.0.0/0 . udp . 8081 : 81 (container a)',
      '127.0.0.1 . tcp . 8080 : 80 (container a)',
      '198.51.100.7 . tcp . 8082 : 82 (container a)',
    ]);
  });

  it('publishes nothing for containers of other nodes', () => {
    const hosts = 'apiVersion: weft/v1\nkind: Host\nmetadata: {name: node-a}\nspec: {address: 198.18.0.1}\n---\napiVersion: weft/v1\nkind: Host\nmetadata: {name: node-b}\nspec: {address: 198.18.0.2}\n---\n';
    const s = compileText(hosts + yaml.container('far', '{host: node-b, ports: ["8080:80"]}') + yaml.container('near', '{host: node-a}'), 'node-a');
    expect(elements(s, 'pub_addr')).toEqual([]);
  });

  it('needs forwarding and br_netfilter in the host namespace', () => {
    const s = compileText(yaml.container('a'));
    expect(s.sysctls['@host/net/ipv4/ip_forward']).toMatchObject({ value: '1', owner: { kind: 'host', name: 'h1' } });
    expect(s.sysctls['@host/net/bridge/bridge-nf-call-iptables']).toMatchObject({ value: '1' });
    // IPv4-only hosts keep their IPv6 forwarding setting.
    expect(s.sysctls['@host/net/ipv6/conf/all/forwarding']).toBeUndefined();
    expect(s.sysctls['@host/net/bridge/bridge-nf-call-ip6tables']).toBeUndefined();
  });

  it('turns on IPv6 forwarding and br_netfilter for IPv6 when a bridge network has IPv6', () => {
    const s = compileText(yaml.network('v6', '{enableIPv6: true}') + yaml.container('a', '{networks: [v6]}'));
    expect(s.sysctls['@host/net/ipv6/conf/all/forwarding']).toMatchObject({ value: '1', owner: { kind: 'host', name: 'h1' } });
    expect(s.sysctls['@host/net/bridge/bridge-nf-call-ip6tables']).toMatchObject({ value: '1' });
    // The same family-blind rules and sets hold the IPv6 network's bridge.
    const br = Object.values(s.links).find((l) => l.kind === 'bridge' && l.owner.name === 'v6')?.name;
    expect(elements(s, 'masq_bridges')).toContain(`${br} (network v6)`);
  });

  it('rejects IPv6 binds to a container without IPv6, ::1, and ports of containers only on internal networks', () => {
    expect(() => compileText(yaml.container('a', '{ports: ["[::]:8080:80"]}'))).toThrow(/PORT_IPV6/);
    expect(() => compileText(yaml.container('a', '{ports: ["[2001:db8::1]:8080:80/udp"]}'))).toThrow(/network "bridge", which has no IPv6/);
    // The ports go to the first non-internal network by name: "alpha" has no IPv6, although "zeta" has.
    expect(() => compileText(yaml.network('zeta', '{enableIPv6: true}') + yaml.network('alpha') + yaml.container('a', '{networks: [zeta, alpha], ports: ["[::]:8080:80"]}'))).toThrow(/PORT_IPV6/);
    expect(() => compileText(yaml.network('v6', '{enableIPv6: true}') + yaml.container('a', '{networks: [v6], ports: ["[::1]:8080:80"]}'))).toThrow(/binds ::1/);
    const internalOnly = yaml.network('vault', '{internal: true}') + yaml.container('a', '{networks: [vault], ports: ["8080:80"]}');
    expect(() => compileText(internalOnly)).toThrow(InvalidManifestError);
    expect(() => compileText(internalOnly)).toThrow(/PORT_ON_INTERNAL/);
  });

  it('keeps the rules fixed and grows only elements: 50 networks cost the rules of 1', () => {
    const many = (n: number) => {
      let text = '';
      for (let i = 0; i < n; i++) {
        text += yaml.network(`net${i}`, `{ipam: {config: [{subnet: 10.${i}.0.0/24}]}}`);
        text += yaml.container(`c${i}`, `{networks: [net${i}], ports: ["${10000 + i}:80"]}`);
      }
      return nft(compileText(text));
    };
    const count = (entries: NftEntry[], kind: NftEntry['kind']) => entries.filter((e) => e.kind === kind).length;
    const sizes = [1, 10, 50].map((n) => {
      const e = many(n);
      return { n, rules: count(e, 'rule'), chains: count(e, 'chain'), sets: count(e, 'set'), elements: count(e, 'element') };
    });
    // Rules, chains and sets do not depend on the number of networks.
    expect(new Set(sizes.map((s) => `${s.rules}/${s.chains}/${s.sets}`)).size).toBe(1);
    expect(sizes[0]!.rules).toBeLessThanOrEqual(18);
    // Elements: per network bridges, same_bridge, masq_bridges; per container pub_addr, pub_port, self_hairpin.
    for (const s of sizes) expect(s.elements).toBe(6 * s.n);
    console.log(`firewall size: ${sizes.map((s) => `${s.n} networks: ${s.rules} rules, ${s.sets} sets, ${s.elements} elements`).join('; ')}`);
  });
});
