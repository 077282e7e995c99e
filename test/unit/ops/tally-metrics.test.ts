import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TallyCounter, TallyHistogram } from '../../../src/ops/tally-metrics.js';

const buckets = [0.001, 0.01, 0.1, 1, 10];

/** The same traffic through prom-client's own classes and through the tallies. */
function bothWays() {
  const reference = new Registry();
  const tallied = new Registry();
  const refCounter = new Counter({ name: 'x_requests_total', help: 'Requests.', labelNames: ['route', 'method', 'status'], registers: [reference] });
  const refHistogram = new Histogram({ name: 'x_duration_seconds', help: 'Duration.', labelNames: ['route'], buckets, registers: [reference] });
  const counter = new TallyCounter({ name: 'x_requests_total', help: 'Requests.', labelNames: ['route', 'method', 'status'], registers: [tallied] });
  const histogram = new TallyHistogram({ name: 'x_duration_seconds', help: 'Duration.', labelName: 'route', buckets, registers: [tallied] });
  const count = (route: string, method: string, status: string) => {
    refCounter.labels({ route, method, status }).inc();
    counter.child({ route, method, status }).inc();
  };
  const observe = (route: string, seconds: number) => {
    refHistogram.labels({ route }).observe(seconds);
    histogram.child(route).observe(seconds);
  };
  return { reference, tallied, count, observe, counter, histogram };
}

describe('tallied metrics', () => {
  it('print on /metrics exactly what prom-client prints for the same counts and observations', async () => {
    const m = bothWays();
    expect(await m.tallied.metrics()).toBe(await m.reference.metrics()); // nothing counted yet: HELP and TYPE only
    for (let i = 0; i < 3; i++) m.count('proxy:/api', 'GET', '200');
    m.count('proxy:/api', 'POST', '499');
    m.count('/auth/me', 'GET', '401');
    for (const seconds of [0.0005, 0.001, 0.02, 0.5, 3, 42]) m.observe('/api', seconds);
    m.observe('/other "quoted"', 0.002);
    expect(await m.tallied.metrics()).toBe(await m.reference.metrics());
    // JSON too (exemplars aside: prom-client lists null ones, which only OpenMetrics with exemplars enabled uses).
    const withoutExemplars = (metrics: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
      metrics.map((metric) => ({ ...metric, values: metric.values.map((value) => {
        const { exemplar: _exemplar, ...rest } = value as typeof value & { exemplar?: unknown };
        return rest;
      }) }));
    expect(withoutExemplars(await m.tallied.getMetricsAsJSON())).toEqual(withoutExemplars(await m.reference.getMetricsAsJSON()));
  });

  it('count into one series per label set, whoever resolved the child', async () => {
    const m = bothWays();
    const first = m.counter.child({ route: 'r', method: 'GET', status: '200' });
    const second = m.counter.child({ route: 'r', method: 'GET', status: '200' });
    first.inc();
    second.inc();
    expect(await m.tallied.metrics()).toContain('x_requests_total{route="r",method="GET",status="200"} 2\n');
  });

  it('start again from zero on reset, as prom-client metrics do', async () => {
    const m = bothWays();
    m.count('r', 'GET', '200');
    m.observe('r', 0.5);
    m.reference.resetMetrics();
    m.tallied.resetMetrics();
    m.count('r', 'GET', '500');
    expect(await m.tallied.metrics()).toContain('x_requests_total{route="r",method="GET",status="500"} 1');
    expect(await m.tallied.metrics()).not.toContain('status="200"');
    expect(await m.tallied.metrics()).not.toContain('x_duration_seconds_count');
  });
});
