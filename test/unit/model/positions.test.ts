import { describe, expect, it } from 'vitest';
import { parseYaml } from '../../../src/manifest/index.js';
import { lookupPosition } from '../../../src/manifest/positions.js';

describe('source positions', () => {
  const text = [
    'apiVersion: weft/v1', // 1
    'kind: Network', // 2
    'metadata: {name: n, labels: {a: b}}', // 3
    'spec:', // 4
    '  ipam:', // 5
    '    config:', // 6
    '      - {subnet: 10.0.0.0/24}', // 7
    '      -', // 8
    '      - subnet: 10.1.0.0/24', // 9
    '        gateway: 10.1.0.1 # comment', // 10
    '---', // 11
    'kind: Container', // 12
    'metadata:', // 13
    '  name: c', // 14
  ].join('\n');
  const { documents } = parseYaml('f.yaml', text);

  it('maps values and keys of every document to line and column', () => {
    const [net, ctr] = documents;
    expect(lookupPosition(net!.positions, '/metadata/name')).toEqual({ line: 3, col: 18 });
    expect(lookupPosition(net!.positions, '/metadata/labels/a')).toEqual({ line: 3, col: 33 });
    expect(lookupPosition(net!.positions, '/spec/ipam/config/0/subnet')).toEqual({ line: 7, col: 18 });
    expect(lookupPosition(net!.positions, '/spec/ipam/config/2/gateway')).toEqual({ line: 10, col: 18 });
    expect(lookupPosition(net!.positions, '/spec/ipam/config/2/gateway', true)).toEqual({ line: 10, col: 9 });
    expect(lookupPosition(ctr!.positions, '/metadata/name')).toEqual({ line: 14, col: 9 });
  });

  it('falls back to the nearest ancestor', () => {
    expect(lookupPosition(documents[0]!.positions, '/spec/ipam/config/2/nope')).toEqual({ line: 9, col: 9 });
  });
});
