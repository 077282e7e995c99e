import type { Registry } from 'prom-client';

/**
 * Counters and histograms for the per-request hot path, kept in plain
 * numbers and typed arrays and turned into prom-client's export shape only
 * at scrape time (a custom collector registered on the gateway's registry).
 *
 * prom-client's own `labels(...).inc()` / `.observe()` re-validate and hash
 * the label object on every call; here a child is resolved once per label
 * set and an observation is a bucket search and two additions. The text on
 * /metrics is what prom-client prints for the same Counter or Histogram:
 * same names, HELP, TYPE, label order, buckets and `+Inf`, `_sum`, `_count`.
 */

interface ExportValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName?: string;
}

interface ExportShape {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: ExportValue[];
  aggregator: 'sum';
}

/** What prom-client's Registry asks of a metric: these four, and reset(). */
abstract class TallyMetric {
  readonly aggregator = 'sum' as const;
  abstract readonly type: 'counter' | 'histogram';
  constructor(
    readonly name: string,
    readonly help: string,
    registers: readonly Registry[],
  ) {
    // registerMetric is typed for prom-client's classes; it only reads name and calls get()/reset().
    for (const registry of registers) registry.registerMetric(this as never);
  }
  protected abstract exportValues(): ExportValue[];
  abstract reset(): void;

  /** Registry.metrics() (the text format). */
  async getForPromString(): Promise<ExportShape> {
    return { name: this.name, help: this.help, type: this.type, values: this.exportValues(), aggregator: this.aggregator };
  }

  /** Registry.getMetricsAsJSON(): shared labels folded into each value's labels, as prom-client does. */
  async get(): Promise<ExportShape> {
    const shape = await this.getForPromString();
    shape.values = shape.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return shape;
  }
}

export interface TallyCounterChild {
  inc(): void;
}

/** A counter whose children are resolved once per label set (a Map lookup of the caller's choosing, then `inc()`). */
export class TallyCounter<L extends string> extends TallyMetric {
  readonly type = 'counter' as const;
  readonly #children = new Map<string, { labels: Record<string, string>; value: number }>();
  readonly #labelNames: readonly L[];

  constructor(options: { name: string; help: string; labelNames: readonly L[]; registers: readonly Registry[] }) {
    super(options.name, options.help, options.registers);
    this.#labelNames = options.labelNames;
  }

  /** The child for these labels (the same one for the same values: resolve it once and keep it). */
  child(labels: Record<L, string>): TallyCounterChild {
    const key = this.#labelNames.map((name) => labels[name]).join('\u0000');
    let entry = this.#children.get(key);
    if (!entry) {
      // Printed in labelNames order, as prom-client prints a child made with labels({...}) in that order.
      const ordered: Record<string, string> = {};
      for (const name of this.#labelNames) ordered[name] = labels[name];
      entry = { labels: ordered, value: 0 };
      this.#children.set(key, entry);
    }
    const data = entry;
    return {
      inc() {
        data.value += 1;
      },
    };
  }

  protected exportValues(): ExportValue[] {
    // Only label sets that were counted, as prom-client prints them (a child made but never used prints nothing).
    return [...this.#children.values()].filter((c) => c.value > 0).map((c) => ({ labels: c.labels, value: c.value }));
  }

  reset(): void {
    for (const child of this.#children.values()) child.value = 0;
  }
}

export interface TallyHistogramChild {
  observe(value: number): void;
}

/** A histogram with one label; each child keeps its bucket counts in a Float64Array. */
export class TallyHistogram<L extends string> extends TallyMetric {
  readonly type = 'histogram' as const;
  readonly #bounds: Float64Array;
  readonly #children = new Map<string, { counts: Float64Array; sum: number; count: number }>();

  constructor(options: { name: string; help: string; labelName: L; buckets: readonly number[]; registers: readonly Registry[] }) {
    super(options.name, options.help, options.registers);
    this.#bounds = Float64Array.from([...options.buckets].sort((a, b) => a - b));
    this.labelName = options.labelName;
  }

  readonly labelName: L;

  /** The child for this label value (the same one for the same value). */
  child(labelValue: string): TallyHistogramChild {
    let entry = this.#children.get(labelValue);
    if (!entry) {
      entry = { counts: new Float64Array(this.#bounds.length), sum: 0, count: 0 };
      this.#children.set(labelValue, entry);
    }
    const data = entry;
    const bounds = this.#bounds;
    return {
      observe(value: number) {
        if (!Number.isFinite(value)) return;
        data.sum += value;
        data.count += 1;
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]!) {
            data.counts[i]! += 1;
            return;
          }
        }
      },
    };
  }

  protected exportValues(): ExportValue[] {
    const values: ExportValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const [labelValue, data] of this.#children) {
      if (data.count === 0) continue;
      const labels = { [this.labelName]: labelValue } as Record<string, string>;
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += data.counts[i]!;
        values.push({ labels: { le: this.#bounds[i]! }, sharedLabels: labels, value: cumulative, metricName: bucketName });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: labels, value: data.count, metricName: bucketName },
        { labels: {}, sharedLabels: labels, value: data.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: labels, value: data.count, metricName: `${this.name}_count` },
      );
    }
    return values;
  }

  reset(): void {
    for (const data of this.#children.values()) {
      data.counts.fill(0);
      data.sum = 0;
      data.count = 0;
    }
  }
}
