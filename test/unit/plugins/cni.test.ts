import { describe, expect, it } from 'vitest';
import { checkResult, pluginStdin } from '../../../src/plugins/cni/index.js';
import type { CniRequest } from '../../../src/plugins/cni/index.js';

const req: CniRequest = {
  config: { cniVersion: '1.0.0', name: 'podnet', plugins: [{ type: 'bridge', bridge: 'cni0' }, { type: 'portmap', capabilities: { portMappings: true } }] },
  portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
};

describe('CNI plugin calls', () => {
  it('builds each plugin\'s stdin as libcni does: name, version, prevResult, runtimeConfig only for declared capabilities', () => {
    const [bridge, portmap] = req.config.plugins;
    expect(pluginStdin(bridge!, req, undefined)).toEqual({ type: 'bridge', bridge: 'cni0', name: 'podnet', cniVersion: '1.0.0' });
    const prev = { ips: [{ address: '10.88.0.2/24' }] };
    expect(pluginStdin(portmap!, req, prev)).toEqual({
      type: 'portmap',
      capabilities: { portMappings: true },
      name: 'podnet',
      cniVersion: '1.0.0',
      prevResult: prev,
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    });
  });

  it('accepts CNI results and refuses garbage with a message, never a crash', () => {
    const ok = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }], ips: [{ address: '10.88.0.2/24', gateway: '10.88.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }] };
    expect(checkResult(ok, 'bridge ADD')).toBe(ok);
    for (const [bad, what] of [
      ['text', 'not an object'],
      [{ ips: 'x' }, 'ips is not a list'],
      [{ ips: [{ address: '10.0.0.1' }] }, 'ips[0].address is not a CIDR'],
      [{ interfaces: [], ips: [{ address: '10.0.0.1/24', interface: 3 }] }, 'ips[0].interface'],
      [{ routes: [{ dst: 'default' }] }, 'routes[0].dst is not a CIDR'],
      [{ interfaces: [{ mac: 'x' }] }, 'interfaces[0] has no name'],
    ] as const) {
      expect(() => checkResult(bad, 'bridge ADD')).toThrow(`bridge ADD answered a result that is not a CNI result (${what})`);
    }
  });
});
