/**
 * The alerts run by Prometheus' own rule engine (promtool, Debian package
 * `prometheus`; skipped where it is not installed): `promtool check rules`
 * loads them as Prometheus would (PromQL and annotation templates), and
 * `promtool test rules` feeds each alert synthetic series for a case that must
 * fire and one that must not.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderChartObjects } from '../../support/deploy-helm.js';
import { loadK8sObjects } from '../../support/deploy-k8s.js';
import { onPath } from '../../support/deploy-tools.js';

const JOB = 'job="oidc-bff-admin", namespace="shop"';
const DEPLOYMENT = 'deployment="oidc-bff", namespace="shop"';
const gatewayLabels = { job: 'oidc-bff-admin', namespace: 'shop' };
const deploymentLabels = { deployment: 'oidc-bff', namespace: 'shop' };

interface Case {
  /** Series as promtool writes them: `metric{labels}` and values such as `0+60x20` (one sample a minute). */
  series: [string, string][];
  evalTime: string;
  /** Labels of each alert expected then (severity included); [] = must not fire. */
  alerts: Record<string, string>[];
}

/** For each alert: a case that fires and one that must not. */
const CASES: [string, string, Case][] = [
  ['OidcBffMetricsAbsent', 'every pod down', { series: [[`up{${JOB}, pod="a"}`, '0x10']], evalTime: '10m', alerts: [{ ...gatewayLabels, severity: 'critical' }] }],
  ['OidcBffMetricsAbsent', 'no target at all', { series: [['some_other_metric', '1x10']], evalTime: '10m', alerts: [{ job: 'oidc-bff-admin', severity: 'critical' }] }],
  ['OidcBffMetricsAbsent', 'one pod of two up', { series: [[`up{${JOB}, pod="a"}`, '0x10'], [`up{${JOB}, pod="b"}`, '1x10']], evalTime: '10m', alerts: [] }],
  [
    'OidcBffStoreUnavailable',
    '60 % of store calls failing',
    {
      series: [[`bff_store_errors_total{${JOB}, operation="get"}`, '0+60x20'], [`bff_store_operation_duration_seconds_count{${JOB}, operation="get"}`, '0+100x20']],
      evalTime: '10m',
      alerts: [{ ...gatewayLabels, severity: 'critical' }],
    },
  ],
  [
    'OidcBffStoreUnavailable',
    '1 % failing',
    {
      series: [[`bff_store_errors_total{${JOB}, operation="get"}`, '0+1x20'], [`bff_store_operation_duration_seconds_count{${JOB}, operation="get"}`, '0+100x20']],
      evalTime: '10m',
      alerts: [],
    },
  ],
  ['OidcBffPodsNotReady', 'a pod unready for 15 minutes', { series: [[`kube_deployment_status_replicas_unavailable{${DEPLOYMENT}}`, '1x20']], evalTime: '15m', alerts: [{ ...deploymentLabels, severity: 'warning' }] }],
  ['OidcBffPodsNotReady', 'a pod unready for 5 minutes (a rollout)', { series: [[`kube_deployment_status_replicas_unavailable{${DEPLOYMENT}}`, '1x5 0x15']], evalTime: '15m', alerts: [] }],
  ['OidcBffReplicasBelowMinimum', '2 of 3 available', { series: [[`kube_deployment_status_replicas_available{${DEPLOYMENT}}`, '2x10']], evalTime: '10m', alerts: [{ ...deploymentLabels, severity: 'critical' }] }],
  ['OidcBffReplicasBelowMinimum', '3 available', { series: [[`kube_deployment_status_replicas_available{${DEPLOYMENT}}`, '3x10']], evalTime: '10m', alerts: [] }],
  [
    'OidcBffRefreshFailures',
    'a third of refreshes refused',
    {
      series: [[`bff_token_refreshes_total{${JOB}, outcome="refreshed"}`, '0+10x30'], [`bff_token_refreshes_total{${JOB}, outcome="invalid_grant"}`, '0+5x30']],
      evalTime: '25m',
      alerts: [{ ...gatewayLabels, severity: 'warning' }],
    },
  ],
  [
    'OidcBffRefreshFailures',
    '1 % unavailable',
    {
      series: [[`bff_token_refreshes_total{${JOB}, outcome="refreshed"}`, '0+99x30'], [`bff_token_refreshes_total{${JOB}, outcome="unavailable"}`, '0+1x30']],
      evalTime: '25m',
      alerts: [],
    },
  ],
  [
    'OidcBffProxy5xxRatio',
    '9 % 503 on /api, none on /billing',
    {
      series: [
        [`bff_http_requests_total{${JOB}, route="proxy:/api", method="GET", status="200"}`, '0+100x20'],
        [`bff_http_requests_total{${JOB}, route="proxy:/api", method="GET", status="503"}`, '0+10x20'],
        [`bff_http_requests_total{${JOB}, route="proxy:/billing", method="GET", status="200"}`, '0+100x20'],
        [`bff_http_requests_total{${JOB}, route="/auth/me", method="GET", status="500"}`, '0+100x20'],
      ],
      evalTime: '15m',
      alerts: [{ ...gatewayLabels, route: 'proxy:/api', severity: 'critical' }],
    },
  ],
  [
    'OidcBffProxy5xxRatio',
    '1 % 5xx',
    {
      series: [
        [`bff_http_requests_total{${JOB}, route="proxy:/api", method="GET", status="200"}`, '0+99x20'],
        [`bff_http_requests_total{${JOB}, route="proxy:/api", method="GET", status="502"}`, '0+1x20'],
      ],
      evalTime: '15m',
      alerts: [],
    },
  ],
  [
    'OidcBffLoginFailures',
    'half of 20 callbacks a minute failing',
    {
      series: [
        [`bff_http_requests_total{${JOB}, route="/auth/callback", method="GET", status="302"}`, '0+10x30'],
        [`bff_http_requests_total{${JOB}, route="/auth/callback", method="GET", status="400"}`, '0+10x30'],
      ],
      evalTime: '20m',
      alerts: [{ ...gatewayLabels, severity: 'warning' }],
    },
  ],
  [
    'OidcBffLoginFailures',
    'half failing, but only 5 in 10 minutes (one user retrying at night)',
    {
      series: [
        [`bff_http_requests_total{${JOB}, route="/auth/callback", method="GET", status="302"}`, '0+0.5x30'],
        [`bff_http_requests_total{${JOB}, route="/auth/callback", method="GET", status="400"}`, '0+0.5x30'],
      ],
      evalTime: '20m',
      alerts: [],
    },
  ],
  [
    'OidcBffBackchannelLogoutErrors',
    'one refused logout token',
    { series: [[`bff_http_requests_total{${JOB}, route="/auth/backchannel-logout", method="POST", status="400"}`, '0 0 0 1 1 1 1']], evalTime: '6m', alerts: [{ ...gatewayLabels, severity: 'warning' }] },
  ],
  [
    'OidcBffBackchannelLogoutErrors',
    'only accepted ones',
    { series: [[`bff_http_requests_total{${JOB}, route="/auth/backchannel-logout", method="POST", status="200"}`, '0 1 2 3 4 5 6']], evalTime: '6m', alerts: [] },
  ],
];

type RuleBody = { spec: { groups: { name: string; rules: { alert: string; annotations?: unknown }[] }[] } };

describe.skipIf(!onPath('promtool'))('the alerts in Prometheus (promtool; skipped: promtool is not on PATH)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bff-promtool-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const promtool = (...args: string[]) => {
    try {
      return execFileSync('promtool', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  };
  const plainRule = loadK8sObjects().find((o) => o.kind === 'PrometheusRule')!.body as unknown as RuleBody;
  const chartRule = renderChartObjects({ monitoring: { prometheusRule: { enabled: true } } }).objects.find((o) => o.kind === 'PrometheusRule')!.body as unknown as RuleBody;

  it.each([
    ['k8s/monitoring/prometheusrule.yaml', plainRule],
    ['the chart', chartRule],
  ])('promtool check rules accepts the rules of %s, annotation templates included', (name, rule) => {
    const file = join(dir, `check-${name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, stringify({ groups: rule.spec.groups }));
    expect(promtool('check', 'rules', file)).toMatch(/SUCCESS: 8 rules found/);
  });

  // Annotations are left out: promtool compares them verbatim, and their templates are checked above.
  const rulesFile = join(dir, 'rules.yaml');
  writeFileSync(rulesFile, stringify({ groups: plainRule.spec.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _, ...r }) => r) })) }));

  it.each(CASES)('%s with %s', (alert, _, c) => {
    const test = {
      rule_files: [rulesFile],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: c.series.map(([series, values]) => ({ series, values })),
          alert_rule_test: [{ eval_time: c.evalTime, alertname: alert, exp_alerts: c.alerts.map((labels) => ({ exp_labels: labels })) }],
        },
      ],
    };
    const file = join(dir, `test-${alert}-${CASES.findIndex((x) => x[2] === c)}.yaml`);
    writeFileSync(file, stringify(test));
    expect(promtool('test', 'rules', file)).toMatch(/SUCCESS/);
  });

  it('covers every alert with a firing and a quiet case', () => {
    const alerts = plainRule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort();
    for (const a of alerts) {
      expect(CASES.some(([name, , c]) => name === a && c.alerts.length > 0), `${a} fires`).toBe(true);
      expect(CASES.some(([name, , c]) => name === a && c.alerts.length === 0), `${a} stays quiet`).toBe(true);
    }
  });
});
