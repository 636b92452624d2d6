import { describe, expect, it } from 'vitest';
import { KernelInputError } from '../../../src/errors.js';
import { checkProgram } from '../../../src/kernel/guard.js';
import { emptyProgram, inNamespace, RealKernel, renderIpOp } from '../../../src/kernel/index.js';
import type { FdbOp, IpOp, KernelProgram } from '../../../src/kernel/index.js';
import { renderFdbOp } from '../../../src/kernel/ip-render.js';
import { createLogger } from '../../../src/log.js';

/**
 * Defence in depth: text that slipped past validation, fed straight to the kernel layer, is
 * refused with KernelInputError and never becomes a command line, a path or a file.
 */

const INJECT = [
  'eth0\nnetns exec h-c1 touch /tmp/proof',
  'eth0 up\nlink del docker0',
  'a b',
  '../../etc',
  'x;reboot',
  '02:42:ac:11:00:09\nnetns exec x touch /tmp/p',
  '',
  'eth0\r',
  'e\u0000',
];

const ok = { what: '' };
const mac = '02:42:ac:11:00:02';

/** Every string field of every operation, each replaced with each injection text. */
function hostileOps(): IpOp[] {
  const base: IpOp[] = [
    { ...ok, op: 'link-add-bridge', name: 'br0', mtu: 1500 },
    { ...ok, op: 'link-add-veth', name: 'veth1', mtu: 1500, master: 'br0', peer: { name: 'eth0', netns: 'h-c1', mac, mtu: 1500 } },
    { ...ok, op: 'link-set', name: 'eth0', mac, master: 'br0', alias: 'weft:ctr=a' },
    { ...ok, op: 'link-add-vxlan', name: 'vx0', mtu: 1450, vni: 4096, local: '198.18.0.1', dstport: 4789, learning: false, proxy: true },
    { ...ok, op: 'link-add-vlan', name: 'eth0.5', parent: 'eth0', vlanId: 5 },
    { ...ok, op: 'link-add-macvlan', name: 'eth1', parent: 'eth0', mode: 'bridge', mac, mtu: 1500, netns: 'h-c1' },
    { ...ok, op: 'link-del', name: 'veth1' },
    { ...ok, op: 'link-move', name: 'tpc1234', netns: 'h-c1', newName: 'eth0' },
    { ...ok, op: 'neigh-replace', dev: 'vx0', address: '10.0.0.2', lladdr: mac, proto: 250 },
    { ...ok, op: 'neigh-del', dev: 'vx0', address: '10.0.0.2' },
    { ...ok, op: 'addr-add', dev: 'eth0', cidr: '10.0.0.2/24' },
    { ...ok, op: 'route-replace', family: 4, dst: 'default', via: '10.0.0.1', dev: 'eth0', proto: 250 },
  ];
  const out: IpOp[] = [];
  for (const op of base) {
    for (const [k, v] of Object.entries(op)) {
      if (k === 'what' || k === 'op') continue;
      // An alias is quoted (only control characters can break out); an empty local means none.
      const refused = (bad: string) => (k === 'alias' ? /[\p{Cc}]/u.test(bad) : !(k === 'local' && bad === ''));
      if (typeof v === 'string') for (const bad of INJECT.filter(refused)) out.push({ ...op, [k]: bad } as IpOp);
      if (typeof v === 'number') for (const bad of [-1, 1.5, Number.NaN, 1e12]) out.push({ ...op, [k]: bad } as IpOp);
      if (k === 'peer') for (const bad of INJECT) for (const pk of ['name', 'netns', 'mac']) out.push({ ...op, peer: { ...(v as object), [pk]: bad } } as unknown as IpOp);
    }
  }
  return out;
}

describe('kernel guard', () => {
  it('renders what weft generates', () => {
    expect(renderIpOp({ ...ok, op: 'link-move', name: 'tpc1234', netns: 'h-c1', newName: 'eth0' })).toBe('link set dev tpc1234 netns h-c1 name eth0');
    expect(renderIpOp({ ...ok, op: 'neigh-replace', dev: 'vx0', address: '10.0.0.2', lladdr: mac, proto: 250 })).toBe(`neigh replace 10.0.0.2 lladdr ${mac} dev vx0 nud permanent proto 250`);
    expect(renderFdbOp({ ...ok, op: 'fdb-append', dev: 'vx0', mac, dst: '198.18.0.2' })).toBe(`fdb append ${mac} dev vx0 dst 198.18.0.2 self permanent`);
  });

  it('refuses every injected token of every ip operation', () => {
    const ops = hostileOps();
    expect(ops.length).toBeGreaterThan(200);
    for (const op of ops) expect(() => renderIpOp(op), JSON.stringify(op)).toThrow(KernelInputError);
  });

  it('refuses injected forwarding entries (the store delivers mac and dst)', () => {
    for (const bad of INJECT) {
      for (const k of ['mac', 'dev', 'dst'] as const) {
        const op: FdbOp = { ...ok, op: 'fdb-append', dev: 'vx0', mac, dst: '198.18.0.2', [k]: bad };
        expect(() => renderFdbOp(op)).toThrow(/internal error.*refusing fdb-append/);
      }
    }
  });

  it('refuses namespace paths that are not /run/netns/NAME or /proc/PID/ns/net', () => {
    for (const p of ['/run/netns/../../etc', '/tmp/x', '/proc/self/ns/net', '/run/netns/a\nb', 'relative']) {
      expect(() => inNamespace(p, ['ip', 'link'])).toThrow(KernelInputError);
    }
    expect(inNamespace('/proc/42/ns/net', ['ip'])).toEqual(['nsenter', '--net=/proc/42/ns/net', 'ip']);
  });

  const host = { key: '@host', path: null };
  const program = (edit: (p: KernelProgram) => void): KernelProgram => {
    const p = emptyProgram(host);
    edit(p);
    return p;
  };

  it('refuses a program with a bad namespace name, sysctl, file or table before running any of it', () => {
    const bad: KernelProgram[] = [
      program((p) => p.netnsAdd.push('c1\nnetns del h')),
      program((p) => p.netnsDelete.push('../x')),
      program((p) => p.host.sysctls.push({ path: 'net/ipv4/conf/../../../kernel/core_pattern', value: '1' })),
      program((p) => p.host.sysctls.push({ path: 'kernel/core_pattern', value: '|/tmp/x' })),
      program((p) => p.host.sysctls.push({ path: 'net/ipv4/ip_forward', value: '1\n' })),
      program((p) => p.files.write.push({ path: '/etc/netns/c1/../../passwd', content: 'x' })),
      program((p) => p.files.write.push({ path: '/etc/netns/c1/hosts', content: '127.0.0.1 a\u001b[2J' })),
      program((p) => p.files.remove.push('/etc/shadow')),
      program((p) => p.files.removeDirs.push('/etc')),
      program((p) => p.containers.push({ ns: { key: 'c', path: '/etc/passwd' }, ip: [], sysctls: [], nft: [] })),
      program((p) => p.awaitGone.push({ ns: host, links: ['a b'] })),
    ];
    for (const p of bad) expect(() => checkProgram(p)).toThrow(KernelInputError);
    const good = program((p) => {
      p.netnsAdd.push('h-c1');
      p.host.sysctls.push({ path: 'net/ipv4/conf/br-0123456789ab/route_localnet', value: '1' });
      p.files.write.push({ path: '/etc/netns/h-c1/hosts', content: '127.0.0.1\tlocalhost\n' });
    });
    expect(() => checkProgram(good)).not.toThrow();
  });

  it('runs nothing when a program is refused', async () => {
    const kernel = new RealKernel({ log: createLogger('silent', 'json') });
    const p = program((x) => x.host.ip.push({ ...ok, op: 'link-del', name: 'eth0\nlink del lo' }));
    await expect(kernel.run(p)).rejects.toThrow(KernelInputError);
    expect(kernel.stats.processes).toBe(0);
  });

  it('refuses container work aimed at the host namespace (by inode) or the machine\'s own', async () => {
    const kernel = new RealKernel({ log: createLogger('silent', 'json') });
    // The host here is this process's own namespace; /proc/<own pid>/ns/net is the same inode.
    for (const path of [`/proc/${process.pid}/ns/net`, '/proc/1/ns/net']) {
      const p = program((x) => x.containers.push({ ns: { key: 'c1', path }, ip: [{ ...ok, op: 'link-set', name: 'wtnone0', up: true }], sysctls: [], nft: [] }));
      await expect(kernel.run(p)).rejects.toThrow(/refusing container namespace c1/);
    }
    expect(kernel.stats.processes).toBe(0);
  });
});
