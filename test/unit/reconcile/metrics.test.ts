import { describe, expect, it } from 'vitest';
import { Registry } from '../../../src/reconcile/metrics.js';
import { DaemonMetrics } from '../../../src/reconcile/daemon-metrics.js';

describe('Prometheus text format', () => {
  it('renders HELP, TYPE and samples; labels sorted and escaped', () => {
    const r = new Registry();
    const c = r.counter('weft_things_total', 'Things.\nSecond line with a \\ backslash.');
    c.inc({ z: 'last', a: 'say "hi"\n' });
    c.inc({ z: 'last', a: 'say "hi"\n' }, 2);
    c.inc();
    const g = r.gauge('weft_level', 'A level.');
    g.set({}, 1.5);
    expect(r.render()).toBe(
      [
        '# HELP weft_things_total Things.\\nSecond line with a \\\\ backslash.',
        '# TYPE weft_things_total counter',
        'weft_things_total 1',
        'weft_things_total{a="say \\"hi\\"\\n",z="last"} 3',
        '# HELP weft_level A level.',
        '# TYPE weft_level gauge',
        'weft_level 1.5',
        '',
      ].join('\n'),
    );
  });

  it('histograms are cumulative with +Inf, _sum and _count', () => {
    const r = new Registry();
    const h = r.histogram('weft_d_seconds', 'D.', [0.1, 0.01, 1]);
    h.observe(0.005);
    h.observe(0.05);
    h.observe(0.05);
    h.observe(3);
    expect(r.render().split('\n').filter((l) => !l.startsWith('#'))).toEqual([
      'weft_d_seconds_bucket{le="0.01"} 1',
      'weft_d_seconds_bucket{le="0.1"} 3',
      'weft_d_seconds_bucket{le="1"} 3',
      'weft_d_seconds_bucket{le="+Inf"} 4',
      'weft_d_seconds_sum 3.105',
      'weft_d_seconds_count 4',
      '',
    ]);
  });

  it('counters never go down; names are checked; a name registers once', () => {
    const r = new Registry();
    const c = r.counter('weft_x_total', 'X.');
    expect(() => c.inc({}, -1)).toThrow(/cannot go down/);
    c.sync({}, 5);
    c.sync({}, 3);
    expect(c.get()).toBe(5);
    expect(() => r.counter('weft_x_total', 'again')).toThrow(/twice/);
    expect(() => r.gauge('weft-bad', 'bad')).toThrow(/invalid metric name/);
  });

  it('gauge replace sets kinds that vanished to 0', () => {
    const r = new Registry();
    const g = r.gauge('weft_owned_objects', 'Owned.');
    g.replace([{ labels: { kind: 'veth' }, value: 2 }, { labels: { kind: 'netns' }, value: 1 }]);
    g.replace([{ labels: { kind: 'netns' }, value: 1 }]);
    expect(g.get({ kind: 'veth' })).toBe(0);
    expect(g.get({ kind: 'netns' })).toBe(1);
  });
});

describe('the daemon metrics', () => {
  it('every name is prefixed weft_ and every family has HELP and TYPE; a scrape reads the daemon now', () => {
    let dns: Record<string, number> = { NOERROR: 3, NXDOMAIN: 1 };
    const m = new DaemonMetrics(() => ({ processes: 12, writes: 4 }), () => dns);
    m.recordReconcile('applied', 0.042);
    m.recordReconcile('converged', 0.004);
    m.driftEvents.inc({ source: 'ip' });
    const text = m.render({ ready: true, owned: { veth: 2, netns: 1 }, lastReconcileAt: 1_700_000_000_000, source: { kind: 'git', revision: 'abc' } });
    const samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const s of samples) expect(s).toMatch(/^weft_[a-z_]+(\{[^}]*\})? [0-9.e+-]+$|^weft_[a-z_]+\{le="\+Inf"\} \d+$/);
    const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => x[1]);
    expect(families.length).toBe([...text.matchAll(/^# HELP /gm)].length);
    expect(text).toContain('weft_reconciles_total{result="applied"} 1');
    expect(text).toContain('weft_reconciles_total{result="failed"} 0');
    expect(text).toContain('weft_reconcile_duration_seconds_count 2');
    expect(text).toContain('weft_drift_events_total{source="ip"} 1');
    expect(text).toContain('weft_owned_objects{kind="veth"} 2');
    expect(text).toContain('weft_ready 1');
    expect(text).toContain('weft_dns_queries_total{rcode="NOERROR"} 3');
    expect(text).toContain('weft_source_info{kind="git",revision="abc"} 1');
    expect(text).toContain('weft_last_reconcile_timestamp_seconds 1700000000');
    dns = { NOERROR: 5, NXDOMAIN: 1 };
    const again = m.render({ ready: false, owned: { netns: 1 }, source: { kind: 'git', revision: 'def' } });
    expect(again).toContain('weft_dns_queries_total{rcode="NOERROR"} 5');
    expect(again).toContain('weft_owned_objects{kind="veth"} 0');
    expect(again).toContain('weft_ready 0');
    expect(again).not.toContain('revision="abc"');
  });
});
