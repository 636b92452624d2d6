import { describe, expect, it } from 'vitest';
import { manifestProblems, yaml } from '../../support/world.js';

const problems = (text: string) => manifestProblems(text);
const codes = (text: string) => problems(text).map((p) => /\[(\w+)\]$/.exec(p)?.[1]);

const bridge = '{type: bridge, bridge: cni-pod0, ipam: {type: host-local, ranges: [[{subnet: 10.88.0.0/24}]]}}';
const cni = (config: string) => yaml.network('podnet', `{driver: cni, cni: {config: ${config}}}`);

describe('driver: cni (validation)', () => {
  it('accepts an inline configuration list with or without its name, and a conflist name', () => {
    expect(codes(cni(`{cniVersion: 1.0.0, plugins: [${bridge}, {type: portmap, capabilities: {portMappings: true}}]}`))).toEqual([]);
    expect(codes(cni(`{cniVersion: 0.4.0, name: podnet, plugins: [${bridge}]}`))).toEqual([]);
    expect(codes(yaml.network('podnet', '{driver: cni, cni: {conflist: podnet.conflist}}'))).toEqual([]);
  });

  it('refuses a configuration named after another network, at the name', () => {
    expect(problems(cni(`{cniVersion: 1.0.0, name: other, plugins: [${bridge}]}`))).toEqual([
      'm.yaml:4:61: network "podnet": the CNI configuration is named "other"; name it "podnet" (the network\'s name) or leave name out [CNI_NAME_MISMATCH]',
    ]);
  });

  it('refuses plugin types and conflist names that are paths', () => {
    expect(codes(cni('{cniVersion: 1.0.0, plugins: [{type: ../../tmp/x}]}'))).toEqual(['CNI_PLUGIN_TYPE']);
    expect(codes(cni('{cniVersion: 1.0.0, plugins: [{type: bridge, ipam: {type: /tmp/x}}]}'))).toEqual(['CNI_PLUGIN_TYPE']);
    expect(codes(yaml.network('podnet', '{driver: cni, cni: {conflist: ../../etc/shadow}}'))).toContain('BAD_CNI_CONFLIST');
    expect(codes(yaml.network('podnet', '{driver: cni, cni: {conflist: /etc/cni/net.d/x.conflist}}'))).toContain('BAD_CNI_CONFLIST');
  });

  it('refuses keys the runtime sets, unknown top-level keys, unknown capabilities and versions', () => {
    expect(codes(cni('{cniVersion: 1.0.0, plugins: [{type: bridge, prevResult: {}}]}'))).toEqual(['CNI_RESERVED_KEY']);
    expect(codes(cni('{cniVersion: 1.0.0, plugins: [{type: bridge, runtimeConfig: {portMappings: []}}]}'))).toEqual(['CNI_RESERVED_KEY']);
    expect(codes(cni(`{cniVersion: 1.0.0, plugin: [${bridge}], plugins: [${bridge}]}`))).toEqual(['CNI_UNKNOWN_KEY']);
    expect(codes(cni('{cniVersion: 1.0.0, plugins: [{type: bridge, capabilities: {ips: true}}]}'))).toEqual(['CNI_CAPABILITY']);
    expect(codes(cni(`{cniVersion: 9.9.9, plugins: [${bridge}]}`))).toEqual(['CNI_VERSION']);
    expect(codes(cni('{cniVersion: 1.0.0, plugins: []}'))).toEqual(['CNI_PLUGINS']);
  });

  it('refuses control characters and deep nesting anywhere in the configuration', () => {
    expect(codes(cni('{cniVersion: 1.0.0, plugins: [{type: bridge, bridge: "a\\nb"}]}'))).toEqual(['CNI_BAD_TEXT']);
    const deep = `${'{a: '.repeat(20)}1${'}'.repeat(20)}`;
    expect(codes(cni(`{cniVersion: 1.0.0, plugins: [{type: bridge, x: ${deep}}]}`))).toEqual(['CNI_CONFIG']);
  });

  it('needs exactly one of config and conflist, no weft IPAM, and spec.cni only with driver cni', () => {
    expect(codes(yaml.network('podnet', '{driver: cni}'))).toEqual(['CNI_CONFIG_REQUIRED']);
    expect(codes(yaml.network('podnet', `{driver: cni, cni: {conflist: a, config: {cniVersion: 1.0.0, plugins: [${bridge}]}}}`))).toEqual(['CNI_CONFIG_REQUIRED']);
    expect(codes(yaml.network('podnet', '{driver: cni, cni: {conflist: a}, ipam: {config: [{subnet: 10.0.0.0/24}]}}'))).toEqual(['CNI_IPAM']);
    expect(codes(yaml.network('podnet', '{driver: bridge, cni: {conflist: a}}'))).toEqual(['CNI_WRONG_DRIVER']);
  });
});
