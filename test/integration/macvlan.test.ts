import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestHost } from '../support/netns.js';
import { run } from '../support/netns.js';
import { Underlay } from '../support/underlay.js';

const yaml = (parent: string, subnet: string, gateway: string, range: string, mode = 'bridge') => `
apiVersion: weft/v1
kind: Network
metadata: {name: lan}
spec:
  driver: macvlan
  ipam: {config: [{subnet: ${subnet}, gateway: ${gateway}, ipRange: ${range}}]}
  options: {parent: ${parent}, macvlan_mode: ${mode}}
---
apiVersion: weft/v1
kind: Container
metadata: {name: m1}
spec: {networks: [lan]}
---
apiVersion: weft/v1
kind: Container
metadata: {name: m2}
spec: {networks: {lan: {ipv4Address: 192.168.77.70}}}
`;

/**
 * macvlan with real traffic: a host whose ul0 sits on a segment (the underlay switch, which also
 * plays the segment's router at .254); two containers with macvlans on ul0.
 */
describe('macvlan (two containers on one parent)', () => {
  let ul: Underlay;
  let h: TestHost;
  const ping = async (from: string, to: string) => (await h.exec(from, ['ping', '-c1', '-W1', to])).code === 0;

  beforeAll(async () => {
    ul = await Underlay.create();
    h = await ul.addHost(1);
  });
  afterAll(async () => {
    await ul?.cleanup();
  });

  it('creates the macvlans in the containers\' namespaces', async () => {
    const dir = await h.manifests({ 'lan.yaml': yaml('ul0', '192.168.77.0/24', '192.168.77.254', '192.168.77.64/26') });
    const r = await h.weft(['apply', '--detail', '-f', dir]);
    expect(r.stderr).toContain('applied and verified');
    expect(r.stdout).toMatch(new RegExp(`^\\+ macvlan eth0 in ${h.netns('m1')} container m1$`, 'm'));
    const link = JSON.parse((await run(['ip', '-n', h.netns('m1'), '-d', '-j', 'link', 'show', 'eth0'])).stdout) as { address: string; linkinfo: { info_kind: string; info_data: { mode: string } } }[];
    expect(link[0]).toMatchObject({ address: '02:42:c0:a8:4d:40', linkinfo: { info_kind: 'macvlan', info_data: { mode: 'bridge' } } });
    const routes = await h.exec('m1', ['ip', 'route', 'show', 'default']);
    expect(routes.stdout).toMatch(/^default via 192\.168\.77\.254 dev eth0/);
    expect((await h.weft(['plan', '-f', dir])).stdout).toBe('');
  });

  it('the two containers reach each other and the router on the parent\'s segment', async () => {
    expect(await ping('m1', '192.168.77.70')).toBe(true);
    expect(await ping('m2', '192.168.77.64')).toBe(true);
    expect(await ping('m1', ul.outside)).toBe(true);
  });

  it('the host cannot reach its own macvlan containers through the parent (documented)', async () => {
    expect((await h.sh(['ping', '-c1', '-W1', '192.168.77.64'])).code).not.toBe(0);
    expect(await ping('m1', '192.168.77.1')).toBe(false);
  });

  it('a mode change recreates the macvlans and keeps the addresses', async () => {
    const dir = await h.manifests({ 'lan.yaml': yaml('ul0', '192.168.77.0/24', '192.168.77.254', '192.168.77.64/26', 'private') });
    const r = await h.weft(['apply', '--detail', '-f', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^- macvlan eth0 in \S+-m1 container m1$/m);
    // private: siblings on one parent cannot talk; the segment's router still can.
    expect(await ping('m1', '192.168.77.70')).toBe(false);
    expect(await ping('m1', ul.outside)).toBe(true);
    expect((await h.exec('m1', ['ip', '-br', 'addr', 'show', 'eth0'])).stdout).toContain('192.168.77.64/24');
  });

  it('a parent such as ul0.50 creates the 802.1q sub-interface, or says why the kernel refuses', async () => {
    const dir = await h.manifests({ 'lan.yaml': yaml('ul0.50', '192.168.50.0/24', '192.168.50.1', '192.168.50.64/26').replace(/ipv4Address: 192\.168\.77\.70/, 'ipv4Address: 192.168.50.70') });
    await h.weft(['destroy', '-f', dir]);
    const probe = await run(['ip', '-n', h.name, 'link', 'add', 'link', 'ul0', 'name', 'probe.9', 'type', 'vlan', 'id', '9']);
    await run(['ip', '-n', h.name, 'link', 'del', 'probe.9']);
    const r = await h.weft(['apply', '--prune', '-f', dir]);
    if (probe.code === 0) {
      expect(r.code).toBe(0);
      const vlan = JSON.parse((await run(['ip', '-n', h.name, '-d', '-j', 'link', 'show', 'ul0.50'])).stdout) as { linkinfo: { info_data: { id: number } } }[];
      expect(vlan[0]?.linkinfo.info_data.id).toBe(50);
    } else {
      // This kernel has no 802.1q support (CONFIG_VLAN_8021Q): the apply names the object and the kernel's words.
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/creating VLAN interface ul0\.50.*ip link add link ul0 name ul0\.50 type vlan id 50[\s\S]*Unknown device type/);
    }
  });
});
