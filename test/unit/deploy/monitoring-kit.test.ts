/**
 * The monitoring kit, in the chart (rendered by the stand-in renderer) and in
 * k8s/monitoring/: prometheus-operator schemas, PromQL that parses and
 * type-checks, runbook links into docs/operations.md that land on a heading,
 * and one dashboard JSON for both. That every bff_* metric used exists is
 * checked against a live gateway in test/integration/monitoring-metrics.test.ts.
 */
import { Ajv } from 'ajv';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { loadChartSchema, loadChartValues, mergeValues, renderChartObjects } from '../../support/deploy-helm.js';
import { HelmRenderError } from '../../support/deploy-helm-render.js';
import { getPath, readRepoFile } from '../../support/deploy-files.js';
import { bodyAs, loadK8sObjects, validateK8sObject, type K8sObject } from '../../support/deploy-k8s.js';
import {
  alertRules,
  dashboardOf,
  dashboardQueries,
  kitQueries,
  markdownAnchors,
  promqlProblems,
  selectorsOf,
} from '../../support/deploy-monitoring.js';

const ALL_ON = { monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } } };
const MONITORING_KINDS = ['ConfigMap/oidc-bff-dashboard', 'PrometheusRule/oidc-bff', 'ServiceMonitor/oidc-bff'];
const DASHBOARD_FILE = 'helm/oidc-bff/dashboards/oidc-bff.json';
const RUNBOOK = 'https://github.com/example/oidc-bff/blob/main/docs/operations.md';
/** What issue 18 asks the alerts to cover, by alert name. */
const ALERTS = [
  'OidcBffBackchannelLogoutErrors',
  'OidcBffLoginFailures',
  'OidcBffMetricsAbsent',
  'OidcBffPodsNotReady',
  'OidcBffProxy5xxRatio',
  'OidcBffRefreshFailures',
  'OidcBffReplicasBelowMinimum',
  'OidcBffStoreUnavailable',
];
/** Metrics the kit reads that the gateway does not export: Prometheus' own and kube-state-metrics'. */
const FOREIGN_METRICS = ['up', 'kube_deployment_status_replicas_available', 'kube_deployment_status_replicas_unavailable'];

const kindsOf = (objects: readonly K8sObject[]) => objects.map((o) => `${o.kind}/${o.name}`).sort();
const monitoringOf = (objects: readonly K8sObject[]) =>
  objects.filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'PrometheusRule' || getPath(o.body, 'metadata.labels.grafana_dashboard') !== undefined);
const rulesOf = (objects: readonly K8sObject[]) => alertRules(objects.find((o) => o.kind === 'PrometheusRule')!.body);
const chart = renderChartObjects(ALL_ON).objects;
const plainAll = loadK8sObjects();
const plain = plainAll.filter((o) => o.file.startsWith('k8s/monitoring/'));
const anchors = markdownAnchors(readRepoFile('docs/operations.md'));

describe('the monitoring kit in the chart is off by default, one switch per object', () => {
  it('renders none of it with values.yaml as it is', () => {
    for (const part of ['serviceMonitor', 'prometheusRule', 'grafanaDashboard']) expect(getPath(loadChartValues(), `monitoring.${part}.enabled`)).toBe(false);
    expect(monitoringOf(renderChartObjects().objects)).toEqual([]);
  });

  it.each([
    ['serviceMonitor', 'ServiceMonitor/oidc-bff'],
    ['prometheusRule', 'PrometheusRule/oidc-bff'],
    ['grafanaDashboard', 'ConfigMap/oidc-bff-dashboard'],
  ])('monitoring.%s.enabled renders %s alone', (part, kind) => {
    expect(kindsOf(monitoringOf(renderChartObjects({ monitoring: { [part]: { enabled: true } } }).objects))).toEqual([kind]);
  });

  it('has its values covered by values.schema.json, which refuses typos and nonsense thresholds', () => {
    const validate = new Ajv({ strict: false }).compile(loadChartSchema());
    const values = loadChartValues();
    const withMonitoring = (monitoring: Record<string, unknown>) => mergeValues(values, { monitoring });
    expect(validate(withMonitoring(ALL_ON.monitoring))).toBe(true);
    expect(validate(withMonitoring({ prometheusRule: { proxy5xxRatio: 5 } }))).toBe(false);
    expect(validate(withMonitoring({ prometheusRule: { enable: true } }))).toBe(false);
    expect(validate(withMonitoring({ serviceMonitor: { interval: '30 seconds' } }))).toBe(false);
    expect(validate(withMonitoring({ grafanaDashboard: { labels: { grafana_dashboard: 1 } } }))).toBe(false);
  });

  it('refuses a ServiceMonitor without the admin Service it scrapes', () => {
    expect(() => renderChartObjects({ ...ALL_ON, adminService: { enabled: false } })).toThrow(HelmRenderError);
    expect(() => renderChartObjects({ ...ALL_ON, adminService: { enabled: false } })).toThrow(/needs adminService.enabled/);
  });
});

describe.each([
  ['the chart (all switches on)', chart, chart],
  ['k8s/monitoring/', plain, plainAll],
])('the monitoring kit of %s', (_, objects, sameInstall) => {
  const kit = monitoringOf(objects);

  it('holds a ServiceMonitor, a PrometheusRule and the dashboard ConfigMap', () => {
    expect(kindsOf(kit)).toEqual(MONITORING_KINDS);
  });

  it.each(kit.map((o): [string, K8sObject] => [`${o.kind}/${o.name}`, o]))('%s validates against its schema (prometheus-operator CRDs, Kubernetes)', (__, o) => {
    expect(() => validateK8sObject(o)).not.toThrow();
  });

  it('scrapes /metrics on the port of the admin Service, which carries only the admin port', () => {
    const monitor = kit.find((o) => o.kind === 'ServiceMonitor')!.body as {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
    };
    const services = sameInstall.filter((o) => o.kind === 'Service').map((o) => ({ name: o.name, spec: bodyAs<IService>(o) }));
    const selected = services.filter((s) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.spec.metadata?.labels?.[k] === v));
    expect(selected.map((s) => s.name)).toEqual(['oidc-bff-admin']);
    expect(monitor.spec.endpoints).toMatchObject([{ port: 'admin', path: '/metrics' }]);
    expect(selected[0]!.spec.spec!.ports!.map((p) => [p.name, p.targetPort])).toEqual([['admin', 'admin']]);
  });

  it('alerts on what issue 18 lists, each with a severity, a summary, a description and a runbook heading in docs/operations.md', () => {
    const rules = rulesOf(kit);
    expect(rules.map((r) => r.alert).sort()).toEqual(ALERTS);
    for (const r of rules) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
      const url = r.annotations?.runbook_url ?? '';
      expect(url, r.alert).toBe(`${RUNBOOK}#${r.alert.toLowerCase()}`);
      expect(anchors.has(url.split('#')[1]!), `${r.alert}: docs/operations.md has no heading for #${url.split('#')[1]}`).toBe(true);
    }
  });

  it('selects the gateway by the job its ServiceMonitor gives (the admin Service name) and the Deployment by name', () => {
    for (const r of rulesOf(kit)) {
      for (const s of selectorsOf(r.expr)) {
        const eq = Object.fromEntries(s.matchers.filter((m) => m.op === '=').map((m) => [m.label, m.value]));
        if (s.metric.startsWith('kube_deployment_')) expect(eq.deployment, r.alert).toBe('oidc-bff');
        else expect(eq.job, `${r.alert}: ${s.metric}`).toBe('oidc-bff-admin');
      }
    }
  });

  it('ships the dashboard file byte for byte, labelled for the Grafana sidecar', () => {
    const configMap = bodyAs<IConfigMap>(kit.find((o) => o.kind === 'ConfigMap')!);
    expect(configMap.metadata?.labels?.grafana_dashboard).toBe('1');
    expect(dashboardOf(configMap as unknown as Record<string, unknown>).text, `regenerate k8s/monitoring/grafana-dashboard.yaml from ${DASHBOARD_FILE} (recipe in its header)`).toBe(readRepoFile(DASHBOARD_FILE));
  });

  it.each(kitQueries(kit).map((q): [string, string] => [q.where, q.expr]))('%s: PromQL parses and type-checks', (__, expr) => {
    expect(promqlProblems(expr)).toEqual([]);
  });

  it('reads only bff_* metrics of the gateway, Prometheus\' up and kube-state-metrics', () => {
    const metrics = new Set(kitQueries(kit).flatMap((q) => selectorsOf(q.expr).map((s) => s.metric)));
    expect([...metrics].filter((m) => !m.startsWith('bff_') && !FOREIGN_METRICS.includes(m))).toEqual([]);
  });
});

describe('the chart and k8s/monitoring/ alert alike', () => {
  it('with the same rules, the chart adding the release namespace to every selector', () => {
    const fromChart = rulesOf(chart).map((r) => ({ ...r, expr: r.expr.replaceAll(', namespace="default"', '') }));
    expect(rulesOf(plain)).toEqual(fromChart);
    for (const r of rulesOf(chart)) {
      for (const s of selectorsOf(r.expr)) expect(s.matchers, `${r.alert}: ${s.metric}`).toContainEqual({ label: 'namespace', op: '=', value: 'default' });
    }
  });
});

describe('the chart alerts follow its values', () => {
  const exprOf = (objects: readonly K8sObject[], alert: string) => rulesOf(objects).find((r) => r.alert === alert)!.expr;
  const render = (monitoring: Record<string, unknown>, more: Record<string, unknown> = {}, release?: string) =>
    renderChartObjects(mergeValues(more, { monitoring: { prometheusRule: { enabled: true, ...monitoring } } }) as Record<string, unknown>, release).objects;

  it('select the release by its names, and a job given in values', () => {
    const edge = render({}, {}, 'edge');
    expect(selectorsOf(exprOf(edge, 'OidcBffStoreUnavailable'))[0]!.matchers).toContainEqual({ label: 'job', op: '=', value: 'edge-oidc-bff-admin' });
    expect(selectorsOf(exprOf(edge, 'OidcBffPodsNotReady'))[0]!.matchers).toContainEqual({ label: 'deployment', op: '=', value: 'edge-oidc-bff' });
    const custom = render({ job: 'bff-scraped-elsewhere' });
    expect(selectorsOf(exprOf(custom, 'OidcBffStoreUnavailable'))[0]!.matchers).toContainEqual({ label: 'job', op: '=', value: 'bff-scraped-elsewhere' });
  });

  it('take their thresholds from values', () => {
    const r = render({ storeErrorRatio: 0.2, refreshFailureRatio: 0.3, proxy5xxRatio: 0.01, loginFailureRatio: 0.5, loginFailureMinimum: 40 });
    expect(exprOf(r, 'OidcBffStoreUnavailable')).toMatch(/> 0\.2$/);
    expect(exprOf(r, 'OidcBffRefreshFailures')).toMatch(/> 0\.3$/);
    expect(exprOf(r, 'OidcBffProxy5xxRatio')).toMatch(/> 0\.01$/);
    expect(exprOf(r, 'OidcBffLoginFailures')).toMatch(/> 0\.5\n[\s\S]*>= 40$/);
  });

  it('take the replica minimum from the autoscaler, the replica count, or values', () => {
    expect(exprOf(render({}), 'OidcBffReplicasBelowMinimum')).toMatch(/< 3$/);
    expect(exprOf(render({}, { autoscaling: { enabled: true, minReplicas: 4 } }), 'OidcBffReplicasBelowMinimum')).toMatch(/< 4$/);
    expect(exprOf(render({}, { autoscaling: { enabled: false }, replicaCount: 5 }), 'OidcBffReplicasBelowMinimum')).toMatch(/< 5$/);
    expect(exprOf(render({ minReplicas: 2 }), 'OidcBffReplicasBelowMinimum')).toMatch(/< 2$/);
  });

  it('carry the alert labels and rule labels given in values, and the runbook base', () => {
    const r = render({ alertLabels: { team: 'identity' }, labels: { release: 'kube-prometheus-stack' } }, { monitoring: { runbookBaseUrl: 'https://docs.example/ops.md' } });
    const rule = r.find((o) => o.kind === 'PrometheusRule')!;
    expect(getPath(rule.body, 'metadata.labels.release')).toBe('kube-prometheus-stack');
    for (const a of alertRules(rule.body)) {
      expect(a.labels).toMatchObject({ team: 'identity' });
      expect(a.annotations?.runbook_url).toBe(`https://docs.example/ops.md#${a.alert.toLowerCase()}`);
    }
  });

  it('put the ServiceMonitor and the dashboard where values say', () => {
    const r = renderChartObjects({
      monitoring: {
        serviceMonitor: { enabled: true, labels: { release: 'kps' }, interval: '15s', scrapeTimeout: '5s' },
        grafanaDashboard: { enabled: true, namespace: 'grafana', annotations: { grafana_folder: 'Identity' } },
      },
    }).objects;
    const monitor = r.find((o) => o.kind === 'ServiceMonitor')!.body;
    expect(getPath(monitor, 'metadata.labels.release')).toBe('kps');
    expect(getPath(monitor, 'spec.endpoints')).toMatchObject([{ interval: '15s', scrapeTimeout: '5s' }]);
    const dashboard = r.find((o) => o.name === 'oidc-bff-dashboard')!.body;
    expect(getPath(dashboard, 'metadata.namespace')).toBe('grafana');
    expect(getPath(dashboard, 'metadata.annotations.grafana_folder')).toBe('Identity');
  });
});

describe('the dashboard', () => {
  const dashboard = JSON.parse(readRepoFile(DASHBOARD_FILE)) as Parameters<typeof dashboardQueries>[0] & { uid: string; panels: { title: string }[] };
  const queries = dashboardQueries(dashboard);
  const panelMetrics = (title: RegExp) =>
    queries.filter((q) => title.test(q.where)).flatMap((q) => selectorsOf(q.expr.replace(/\$__rate_interval/g, '5m')).map((s) => s.metric));

  it('has a stable uid and a data source variable (the sidecar cannot answer import inputs)', () => {
    expect(dashboard.uid).toBe('oidc-bff');
    expect(JSON.stringify(dashboard)).not.toContain('__inputs');
    expect(dashboard.templating?.list?.map((v) => v.name)).toEqual(['datasource', 'namespace', 'job']);
  });

  it.each([
    ['request rate', /^Requests per second/, 'bff_http_requests_total'],
    ['latency percentiles by route', /latency by route/, 'bff_proxy_request_duration_seconds_bucket'],
    ['refreshes by outcome', /^Token refreshes by outcome/, 'bff_token_refreshes_total'],
    ['sessions', /^Active sessions/, 'bff_active_sessions'],
    ['store latency', /^Store latency/, 'bff_store_operation_duration_seconds_bucket'],
    ['store errors', /^Store errors/, 'bff_store_errors_total'],
    ['logins', /^Logins/, 'bff_logins_total'],
    ['logouts', /^Logouts/, 'bff_logouts_total'],
  ])('shows %s', (__, title, metric) => {
    expect(panelMetrics(title)).toContain(metric);
  });

  it('shows p50, p90 and p99 of the proxied latency per route', () => {
    const latency = queries.filter((q) => /latency by route/.test(q.where)).map((q) => q.expr);
    expect(latency.map((e) => /^histogram_quantile\((0\.\d+), sum by \(le, route\)/.exec(e)?.[1])).toEqual(['0.5', '0.9', '0.99']);
  });
});

describe('the PromQL checks themselves', () => {
  it.each([
    ['a syntax error', 'sum(rate(bff_x_total[5m])', /cannot parse/],
    ['rate over an instant vector', 'rate(bff_x_total)', /needs a range vector/],
    ['a range vector where none is taken', 'sum(bff_x_total[5m])', /range vector where an instant vector is needed/],
    ['a quantile of buckets summed away from le', 'histogram_quantile(0.9, sum by (route) (rate(b_bucket[5m])))', /not grouped by le/],
    ['a ratio of differently grouped sums', 'sum by (route) (rate(a[5m])) / sum by (namespace) (rate(b[5m]))', /matches nothing/],
  ])('find %s', (__, expr, problem) => {
    expect(promqlProblems(expr).join('\n')).toMatch(problem);
  });

  it('read selectors and GitHub heading anchors', () => {
    expect(selectorsOf('sum(rate(a_total{job="j", status=~"5.."}[5m])) / up')).toEqual([
      { metric: 'a_total', matchers: [{ label: 'job', op: '=', value: 'j' }, { label: 'status', op: '=~', value: '5..' }] },
      { metric: 'up', matchers: [] },
    ]);
    expect([...markdownAnchors('# A `b` c!\n## OidcBffX\n```\n# not a heading\n```\n## OidcBffX')]).toEqual(['a-b-c', 'oidcbffx', 'oidcbffx-1']);
  });
});
