import { describe, expect, it } from 'vitest';
import { InvalidManifestError } from '../../../src/errors.js';
import { formats } from '../../../src/manifest/formats.js';
import { modelFromText } from '../../../src/model/index.js';
import type { Rule } from '../../../src/model/index.js';
import { netnsTargets } from '../../../src/model/rules/netns-target.js';
import { yaml } from '../../support/world.js';

function problems(text: string, extra: Rule[] = []): string[] {
  try {
    modelFromText([{ file: 'm.yaml', text }], extra);
    return [];
  } catch (err) {
    if (err instanceof InvalidManifestError) return err.problems.map((p) => `${p.pos.line} ${p.code}`);
    throw err;
  }
}

describe('field formats and values', () => {
  it('gives every format its own pattern (a failed pattern names its format)', () => {
    const patterns = Object.values(formats).map((f) => f.pattern);
    expect(new Set(patterns).size).toBe(patterns.length);
  });

  it('keeps a document with a bad field, so the other rules still report', () => {
    const text = yaml.container('a', '{networks: {bridge: {macAddress: "02:42:ac:11:00:09\\nx"}}}') + yaml.container('b', '{networks: [nope]}');
    expect(problems(text)).toEqual(['4 BAD_MAC', '9 UNKNOWN_NETWORK']);
  });

  it('accepts what Docker accepts', () => {
    const spec = '{hostname: web-1.example.com, extraHosts: ["db:10.0.0.5", "v6:2001:db8::5"], dns: {servers: [9.9.9.9, "2001:db8::53"], search: [corp.test, .], options: [ndots:2, "timeout:3", rotate, edns0]}, networks: {bridge: {macAddress: "02:42:AC:11:00:09", links: ["b:db_1"]}}}';
    expect(problems(yaml.container('a', spec) + yaml.container('b'))).toEqual([]);
  });

  it('refuses values the formats let through', () => {
    expect(problems(yaml.container('a', '{dns: {options: ["ndots:16", "rotate:1", "timeout", "bogus"]}}'))).toEqual(['4 BAD_DNS_OPTION', '4 BAD_DNS_OPTION', '4 BAD_DNS_OPTION', '4 BAD_DNS_OPTION']);
    expect(problems(yaml.container('a', '{networks: {bridge: {macAddress: "00:00:00:00:00:00"}}}'))).toEqual(['4 BAD_MAC']);
    expect(problems(yaml.container('a', '{dns: {servers: ["1.2.3"]}}'))).toEqual(['4 BAD_DNS_SERVER']);
  });
});

describe('netns is never the host namespace', () => {
  const host = { label: 'the host namespace "h1" (--host-netns)', id: { dev: 4, ino: 100 } };
  const identities: Record<string, { dev: number; ino: number }> = { '/run/netns/h1': { dev: 4, ino: 100 }, '/proc/42/ns/net': { dev: 4, ino: 100 }, '/run/netns/other': { dev: 4, ino: 200 } };
  const rule = netnsTargets([host], (p) => identities[p]);

  it('compares by inode, whatever path names the namespace', () => {
    for (const netns of ['/run/netns/h1', 'h1', '/proc/42/ns/net']) {
      expect(problems(yaml.container('a', `{netns: "${netns}"}`), [rule])).toEqual(['4 NETNS_IS_HOST']);
    }
    expect(problems(yaml.container('a', '{netns: /run/netns/other}'), [rule])).toEqual([]);
    expect(problems(yaml.container('a', '{netns: /run/netns/missing}'), [rule])).toEqual([]);
    // plan and apply ask for an existing namespace: a missing one is invalid input, not a kernel failure.
    const strict = netnsTargets([host], (p) => identities[p], { requireExisting: true });
    expect(problems(yaml.container('a', '{netns: /run/netns/missing}'), [strict])).toEqual(['4 NETNS_MISSING']);
    expect(problems(yaml.container('a', '{netns: "10.20.0.5"}'), [strict])).toEqual(['4 NETNS_MISSING']);
    expect(problems(yaml.container('a', '{netns: /run/netns/other}'), [strict])).toEqual([]);
  });

  it('refuses PID 1\'s namespace from the text alone', () => {
    expect(problems(yaml.container('a', '{netns: /proc/1/ns/net}'))).toEqual(['4 NETNS_IS_HOST']);
  });
});
