import { describe, expect, it } from 'vitest';
import { InvalidManifestError } from '../../../src/errors.js';
import { modelFromText, parsePort } from '../../../src/model/index.js';
import { yaml } from '../../support/world.js';

function problems(text: string): string[] {
  try {
    modelFromText([{ file: 'm.yaml', text }]);
    return [];
  } catch (err) {
    if (err instanceof InvalidManifestError) return err.problems.map((p) => p.code);
    throw err;
  }
}

describe('validation rules', () => {
  it('reports every problem at once, sorted by position', () => {
    const text = yaml.container('a', '{networks: [nope]}') + yaml.container('b', '{ports: ["x"]}');
    expect(problems(text)).toEqual(['UNKNOWN_NETWORK', 'BAD_PORT']);
  });

  it('accepts the seed walkthrough and Docker-style options', () => {
    const text =
      yaml.network('docker_gwbridge', '{ipam: {config: [{subnet: 172.30.0.0/16}]}, options: {com.docker.network.bridge.name: docker_gwbridge, com.docker.network.bridge.enable_icc: "false"}}') +
      yaml.container('c', '{networks: {docker_gwbridge: {aliases: [web], ipv4Address: 172.30.0.9}}}');
    expect(problems(text)).toEqual([]);
  });

  it('allows customising the default bridge but not host or none', () => {
    expect(problems(yaml.network('bridge', '{options: {com.docker.network.driver.mtu: "1400"}}'))).toEqual([]);
    expect(problems(yaml.network('none', '{options: {a: b}}'))).toEqual(['PREDEFINED_FIXED']);
  });

  it('keeps gateways and static addresses off reserved addresses', () => {
    expect(problems(yaml.network('n', '{ipam: {config: [{subnet: 10.0.0.0/24, gateway: 10.0.0.255}]}}'))).toEqual(['GATEWAY_RESERVED']);
    const net = yaml.network('n', '{ipam: {config: [{subnet: 10.0.0.0/24}]}}');
    expect(problems(net + yaml.container('a', '{networks: {n: {ipv4Address: 10.0.0.1}}}'))).toEqual(['ADDRESS_RESERVED']);
  });

  it('rejects a published port on a container only on internal networks', () => {
    const text = yaml.network('i', '{internal: true}') + yaml.container('a', '{networks: [i], ports: ["8080:80"]}');
    expect(problems(text)).toEqual(['PORT_ON_INTERNAL']);
  });

  it('lets distinct host addresses share a port, but not with a wildcard bind', () => {
    const a = yaml.container('a', '{ports: ["127.0.0.1:80:80"]}');
    expect(problems(a + yaml.container('b', '{ports: ["127.0.0.2:80:80"]}'))).toEqual([]);
    expect(problems(a + yaml.container('b', '{ports: ["80:80"]}'))).toEqual(['PORT_IN_USE']);
    expect(problems(a + yaml.container('b', '{ports: ["80:80/udp"]}'))).toEqual([]);
  });

  it('keeps the families apart: 0.0.0.0:P and [::]:P are two binds, "P" is both', () => {
    const v6 = yaml.network('v6', '{enableIPv6: true}');
    const a = yaml.container('a', '{networks: [v6], ports: ["0.0.0.0:80:80"]}');
    expect(problems(v6 + a + yaml.container('b', '{networks: [v6], ports: ["[::]:80:80"]}'))).toEqual([]);
    expect(problems(v6 + a + yaml.container('b', '{networks: [v6], ports: ["[2001:db8::1]:80:80"]}'))).toEqual([]);
    expect(problems(v6 + a + yaml.container('b', '{networks: [v6], ports: ["80:80"]}'))).toEqual(['PORT_IN_USE']);
    const six = yaml.container('a', '{networks: [v6], ports: ["[2001:db8::1]:80:80"]}');
    expect(problems(v6 + six + yaml.container('b', '{networks: [v6], ports: ["[::]:80:80"]}'))).toEqual(['PORT_IN_USE']);
    expect(problems(v6 + six + yaml.container('b', '{networks: [v6], ports: ["[2001:db8:0::1]:80:80"]}'))).toEqual(['PORT_IN_USE']);
    expect(problems(v6 + six + yaml.container('b', '{networks: [v6], ports: ["127.0.0.1:80:80"]}'))).toEqual([]);
  });

  it('names the first holder of a port when a wildcard bind clashes with several addresses', () => {
    const text =
      yaml.container('a', '{ports: ["127.0.0.1:81:80"]}') +
      yaml.container('b', '{ports: ["127.0.0.2:80-81:80-81"]}') +
      yaml.container('c', '{ports: ["127.0.0.3:80:80"]}') +
      yaml.container('d', '{ports: ["79-80:79-80"]}');
    let messages: string[] = [];
    try {
      modelFromText([{ file: 'm.yaml', text }]);
    } catch (err) {
      if (!(err instanceof InvalidManifestError)) throw err;
      messages = err.problems.map((p) => p.message);
    }
    expect(messages).toEqual(['container "d": host port 80/tcp is already published by container "b" ("127.0.0.2:80-81:80-81")']);
  });
});

describe('parsePort', () => {
  it('parses Docker publish syntax', () => {
    expect(parsePort('8080:80')).toEqual({ hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80, protocol: 'tcp' });
    expect(parsePort('127.0.0.1:5353:53/udp')).toMatchObject({ hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' });
    expect(parsePort('[::1]:8080:80')).toMatchObject({ hostIp: '::1', hostPort: 8080 });
    expect(parsePort('9000-9002:8000-8002')).toMatchObject({ hostPort: 9000, hostPortEnd: 9002, containerPort: 8000, containerPortEnd: 8002 });
  });
  it('explains what is wrong', () => {
    expect(parsePort('80')).toEqual({ error: 'the host port is missing' });
    expect(parsePort('9000-9001:80')).toEqual({ error: 'host and container port ranges differ in length' });
    expect(parsePort('70000:80')).toEqual({ error: 'bad host port "70000"' });
    expect(parsePort('x.y:80:80')).toEqual({ error: '"x.y" is not an IP address' });
  });
});
