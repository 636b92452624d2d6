import { describe, expect, it } from 'vitest';
import { publishChange } from '../../../src/store/etcd.js';

describe('what an etcd publication writes', () => {
  const stored = { '/weft/v1/endpoints/n/ovl/a': 'A', '/weft/v1/endpoints/n/ovl/b': 'B', '/weft/v1/endpoints/n/ovl/gone': 'G' };
  const wanted = new Map([
    ['/weft/v1/endpoints/n/ovl/a', 'A'],
    ['/weft/v1/endpoints/n/ovl/b', 'B2'],
    ['/weft/v1/endpoints/n/ovl/new', 'N'],
  ]);

  it('under the same lease, only what changed: one container added costs one put, not one per endpoint', () => {
    expect(publishChange(stored, wanted, true)).toEqual({
      deletes: ['/weft/v1/endpoints/n/ovl/gone'],
      puts: [
        ['/weft/v1/endpoints/n/ovl/b', 'B2'],
        ['/weft/v1/endpoints/n/ovl/new', 'N'],
      ],
    });
    expect(publishChange({ k: 'v' }, new Map([['k', 'v']]), true)).toEqual({ deletes: [], puts: [] });
  });

  it('under a new lease (one-shot apply, or the old lease expired), every key again, so all of them live under it', () => {
    expect(publishChange(stored, wanted, false).puts.map(([k]) => k)).toEqual(['/weft/v1/endpoints/n/ovl/a', '/weft/v1/endpoints/n/ovl/b', '/weft/v1/endpoints/n/ovl/new']);
  });
});
