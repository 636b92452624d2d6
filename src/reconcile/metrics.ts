/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format (version 0.0.4). weft needs a dozen series; a client library would bring more
 * than it saves. Pure apart from holding values.
 */

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',')}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function key(labels: Labels): string {
  return labelText(labels);
}

/** A value per label set; counters only go up. */
class Series {
  protected readonly values = new Map<string, { labels: Labels; value: number }>();

  protected add(labels: Labels, delta: number, set: boolean): void {
    const k = key(labels);
    const cur = this.values.get(k);
    if (cur) cur.value = set ? delta : cur.value + delta;
    else this.values.set(k, { labels: { ...labels }, value: delta });
  }

  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.value ?? 0;
  }

  protected lines(name: string): string[] {
    return [...this.values.values()].sort((a, b) => key(a.labels).localeCompare(key(b.labels))).map((s) => `${name}${labelText(s.labels)} ${num(s.value)}`);
  }
}

export class Counter extends Series implements Family {
  readonly type = 'counter';
  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    super();
  }

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot go down`);
    this.add(labels, by, false);
  }

  /** Takes over a total kept elsewhere (the DNS server's query counts); never goes down. */
  sync(labels: Labels, total: number): void {
    if (total >= this.get(labels)) this.add(labels, total, true);
  }

  /** Makes a label set appear with 0 before anything happened (so rates start from a known zero). */
  init(labels: Labels): void {
    this.add(labels, 0, false);
  }

  render(): string[] {
    return this.lines(this.name);
  }
}

export class Gauge extends Series implements Family {
  readonly type = 'gauge';
  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    super();
  }

  set(labels: Labels, value: number): void {
    this.add(labels, value, true);
  }

  /** Forgets every label set. */
  clear(): void {
    this.values.clear();
  }

  /** Replaces every label set at once (for "owned objects by kind": kinds that vanished go to 0). */
  replace(values: readonly { labels: Labels; value: number }[]): void {
    for (const s of this.values.values()) s.value = 0;
    for (const v of values) this.set(v.labels, v.value);
  }

  render(): string[] {
    return this.lines(this.name);
  }
}

export class Histogram implements Family {
  readonly type = 'histogram';
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.buckets.forEach((b, i) => {
      if (value <= b) this.counts[i]!++;
    });
  }

  get total(): number {
    return this.count;
  }

  render(): string[] {
    const lines = this.buckets.map((b, i) => `${this.name}_bucket{le="${num(b)}"} ${this.counts[i] ?? 0}`);
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`);
    lines.push(`${this.name}_sum ${num(this.sum)}`);
    lines.push(`${this.name}_count ${this.count}`);
    return lines;
  }
}

/** Holds metric families in registration order and renders them. */
export class Registry {
  private readonly families: Family[] = [];

  private register<F extends Family>(f: F): F {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(f.name)) throw new Error(`invalid metric name ${f.name}`);
    if (this.families.some((x) => x.name === f.name)) throw new Error(`metric ${f.name} registered twice`);
    this.families.push(f);
    return f;
  }

  counter(name: string, help: string): Counter {
    return this.register(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.register(new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.register(new Histogram(name, help, [...buckets].sort((a, b) => a - b)));
  }

  /** The text exposition format: HELP and TYPE, then the samples, one family after another. */
  render(): string {
    const out: string[] = [];
    for (const f of this.families) {
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.render());
    }
    return `${out.join('\n')}\n`;
  }
}
