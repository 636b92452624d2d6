import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../src/errors.js';
import { FakeWorld, yaml } from '../../support/world.js';

describe('recovery from a failed apply', () => {
  it('adopts namespaces whose host batch failed after the veths were created, and converges', async () => {
    const w = new FakeWorld();
    const text = yaml.network('n1', '{ipam: {config: [{subnet: 172.21.0.0/16}]}}') + yaml.container('c1', '{networks: [n1]}');
    // The host batch creates the veth (its peer lands in h1-c1) and then fails: h1-c1's loopback is never tagged.
    w.kernel.failOn = { match: /addr add 172\.21\.0\.1/, message: 'RTNETLINK answers: Permission denied' };
    await expect(w.apply(text)).rejects.toBeInstanceOf(KernelError);
    expect(w.kernel.ns('h1-c1').links.get('lo')?.alias).toBeUndefined();
    const again = await w.apply(text);
    expect(again.plan.changes.map((c) => `${c.action} ${c.domain}`)).not.toContain('create netns');
    expect(await w.plan(text)).toEqual([]);
  });
});
