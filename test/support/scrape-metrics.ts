/** Reads a Prometheus text exposition the way a scraper would, for assertions on counters. */
export interface Sample {
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
  readonly value: number;
}

export interface Scrape {
  readonly text: string;
  /** Every sample line, in order. */
  readonly samples: readonly Sample[];
  /** Sum of every sample of `name` whose labels include `labels` (0 when none). */
  value(name: string, labels?: Record<string, string>): number;
  /** True when the exposition declares `name` (# TYPE line), even with no sample yet. */
  declares(name: string): boolean;
}

export async function scrapeMetrics(adminUrl: string): Promise<Scrape> {
  const response = await fetch(`${adminUrl}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  const samples: Sample[] = text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`unparsable metrics line: ${line}`);
      const labels = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
  return {
    text,
    samples,
    value: (name, labels = {}) =>
      samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels.get(k) === v))
        .reduce((sum, s) => sum + s.value, 0),
    declares: (name) => new RegExp(`^# TYPE ${name} `, 'm').test(text),
  };
}
