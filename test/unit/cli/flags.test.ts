import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/cli/duration.js';
import { formatStatus } from '../../../src/cli/status.js';
import { UsageError } from '../../../src/errors.js';
import type { DaemonStatus } from '../../../src/reconcile/index.js';
import { listenUrl, parseListen } from '../../../src/reconcile/index.js';

describe('watch flags', () => {
  it('durations', () => {
    expect(parseDuration('--interval', '30s')).toBe(30_000);
    expect(parseDuration('--interval', '1m')).toBe(60_000);
    expect(parseDuration('--resync', '500ms')).toBe(500);
    expect(parseDuration('--resync', '2')).toBe(2000);
    expect(parseDuration('--resync', '0')).toBe(0);
    expect(parseDuration('--resync', '1.5h')).toBe(5_400_000);
    expect(() => parseDuration('--interval', 'soon')).toThrow(UsageError);
    expect(() => parseDuration('--interval', '-1s')).toThrow(/--interval -1s/);
  });

  it('listen addresses', () => {
    expect(parseListen('127.0.0.1:9847')).toEqual({ host: '127.0.0.1', port: 9847 });
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseListen(':9847')).toEqual({ host: '0.0.0.0', port: 9847 });
    expect(() => parseListen('9847')).toThrow(UsageError);
    expect(() => parseListen('host:99999')).toThrow(/--listen/);
    expect(listenUrl({ host: '::1', port: 80 }, '/status')).toBe('http://[::1]:80/status');
    expect(listenUrl({ host: '0.0.0.0', port: 9847 }, '/metrics')).toBe('http://127.0.0.1:9847/metrics');
  });
});

describe('weft status for a person', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  const status: DaemonStatus = {
    pid: 42,
    startedAt: '2026-01-01T00:00:00Z',
    hostNetns: 'h1',
    source: { kind: 'git', url: 'https://example.test/net.git', ref: 'main', path: 'deploy', intervalMs: 30_000, revision: 'a'.repeat(40), latest: 'b'.repeat(40), skipped: { revision: 'b'.repeat(40), at: '2026-01-01T00:09:00Z', error: 'x' } },
    ready: false,
    lastReconcile: { startedAt: '2026-01-01T00:09:59Z', finishedAt: '2026-01-01T00:09:59.5Z', durationMs: 41.2, result: 'applied', trigger: ['drift'], revision: 'a'.repeat(40), changes: 2, summary: '+1 address +1 route' },
    owned: { bridge: 1, netns: 2 },
    orphans: 0,
    reconciles: { converged: 3, applied: 2, failed: 0 },
    drift: { events: 5, ownEventsIgnored: 40, repairs: 1, repairedObjects: 2, lastEventAt: '2026-01-01T00:09:59Z' },
    error: { kind: 'manifest', message: 'm', at: '2026-01-01T00:09:00Z', revision: 'b'.repeat(40), problems: ['deploy/net.yaml:3:5: bad [X]'] },
    errors: [{ kind: 'manifest', message: 'm', at: '2026-01-01T00:09:00Z', revision: 'b'.repeat(40), problems: ['deploy/net.yaml:3:5: bad [X]'] }],
  };

  it('shows the commit in force, the skipped one and the error with its position', () => {
    const text = formatStatus(status, now).join('\n');
    expect(text).toContain('source:      git https://example.test/net.git ref main path deploy, fetched every 30s');
    expect(text).toContain('revision:    aaaaaaaaaaaa in force; latest bbbbbbbbbbbb');
    expect(text).toContain('skipped:     bbbbbbbbbbbb (invalid manifests, 60s ago)');
    expect(text).toContain('ready:       no');
    expect(text).toContain('last reconcile: applied at 2026-01-01T00:09:59.5Z (1s ago), 41.2 ms, trigger drift, 2 changes (+1 address +1 route)');
    expect(text).toContain('owned:       1 bridge, 2 netns');
    expect(text).toContain('drift:       5 events, 1 repairs (2 objects), last 1s ago');
    expect(text).toContain('error:       manifest at bbbbbbbbbbbb (60s ago):\n  deploy/net.yaml:3:5: bad [X]');
  });
});
