/**
 * The monitoring kit's alerts and dashboard read metrics a real gateway
 * exports: a gateway on real Redis and the test provider serves a login, a
 * proxied call, a refresh (and one the provider refuses), a back-channel
 * logout (and a refused one), a failed callback, an upstream 503 and a logout; then every bff_* selector of the
 * chart's and k8s/monitoring/'s queries must find its metric, its labels and
 * the label values it names exactly in /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { REFRESH_OUTCOMES } from '../../src/ops/metrics.js';
import { renderChartObjects } from '../support/deploy-helm.js';
import { loadK8sObjects } from '../support/deploy-k8s.js';
import { kitQueries, selectorsOf, type Selector } from '../support/deploy-monitoring.js';
import { logIn } from '../support/gateway-sessions.js';
import { apiHeaders, createTestClock, type TestClock } from '../support/proxy-test-kit.js';
import { scrapeMetrics, type Scrape } from '../support/scrape-metrics.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

// Access tokens live 300 s at the provider; moving the clock that far forces a refresh.
const ACCESS_TOKEN_TTL_MS = 300_000;
/** Labels Prometheus adds from the scrape target; the gateway cannot export them. */
const TARGET_LABELS = new Set(['job', 'namespace', 'instance', 'pod', 'service', 'endpoint', 'container']);

let redis: RedisServer;
let idp: TestIdentityProvider;
let echo: EchoApi;
let clock: TestClock;
let gateway: TestGateway;
let scrape: Scrape;

const status = async (response: Promise<Response>) => {
  const r = await response;
  await r.body?.cancel();
  return r.status;
};

beforeAll(async () => {
  [redis, idp, echo] = await Promise.all([startRedis(), startIdentityProvider(), createEchoApi()]);
  clock = createTestClock();
  gateway = await startTestGateway({ idp, redisUrl: redis.url, clock: clock.now, env: { PROXY_ROUTES: `/api=${echo.url}` } });

  const user = await logIn(gateway);
  const api = (path: string) => status(fetch(`${gateway.url}/api${path}`, { headers: apiHeaders(user.cookie) }));
  expect(await api('/items/1')).toBe(200);
  expect(await api('/status/503')).toBe(503);

  // The provider ends another session (before the clock moves: the token's iat is real time).
  const other = await logIn(gateway);
  const backchannel = (token: string) =>
    status(
      fetch(`${gateway.url}/auth/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }),
      }),
    );
  expect(await backchannel(await idp.signLogoutToken({ sid: other.sid, sub: other.sub }))).toBe(200);
  expect(await backchannel('not-a-token')).toBe(400);
  expect(await status(fetch(`${gateway.url}/auth/callback`, { headers: { accept: 'application/json' } }))).toBe(400);

  const doomed = await logIn(gateway);

  clock.advance(ACCESS_TOKEN_TTL_MS);
  expect(await api('/items/2')).toBe(200);
  idp.failNextRefresh('invalid_grant');
  expect(await status(fetch(`${gateway.url}/api/items/3`, { headers: apiHeaders(doomed.cookie) }))).toBe(401);
  expect(await status(fetch(`${gateway.url}/auth/logout`, { method: 'POST', headers: apiHeaders(user.cookie) }))).toBe(200);

  scrape = await scrapeMetrics(gateway.adminUrl);
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await Promise.all([echo?.close(), idp?.close(), redis?.stop()]);
});

const kit = [
  ...renderChartObjects({ monitoring: { prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } } }).objects,
  ...loadK8sObjects().filter((o) => o.file.startsWith('k8s/monitoring/')),
];
const gatewaySelectors = kitQueries(kit).flatMap((q) =>
  selectorsOf(q.expr)
    .filter((s) => s.metric.startsWith('bff_'))
    .map((s): [string, Selector] => [`${q.where}: ${s.metric}{${s.matchers.map((m) => `${m.label}${m.op}"${m.value}"`).join(', ')}}`, s]),
);

describe('the metrics the monitoring kit reads, on a live gateway', () => {
  it('saw what the scenario did: logins, refreshes, both back-channel answers, a failed callback, an upstream 503, a logout', () => {
    expect(scrape.value('bff_logins_total', { outcome: 'success' })).toBe(3);
    expect(scrape.value('bff_token_refreshes_total', { outcome: 'refreshed' })).toBe(1);
    expect(scrape.value('bff_token_refreshes_total', { outcome: 'invalid_grant' })).toBe(1);
    expect(scrape.value('bff_http_requests_total', { route: '/auth/backchannel-logout', status: '200' })).toBe(1);
    expect(scrape.value('bff_http_requests_total', { route: '/auth/backchannel-logout', status: '400' })).toBe(1);
    expect(scrape.value('bff_http_requests_total', { route: '/auth/callback', status: '400' })).toBe(1);
    expect(scrape.value('bff_http_requests_total', { route: 'proxy:/api', status: '503' })).toBe(1);
    expect(scrape.value('bff_logouts_total', { kind: 'backchannel' })).toBe(1);
    expect(scrape.value('bff_logouts_total', { kind: 'user' })).toBe(1);
  });

  it('exports every refresh outcome, at 0 where none happened yet: a series that first appears at 1 shows no rate() increase', () => {
    const exported = scrape.samples.filter((s) => s.name === 'bff_token_refreshes_total').map((s) => s.labels.get('outcome'));
    expect(new Set(exported)).toEqual(new Set(REFRESH_OUTCOMES));
    expect(scrape.value('bff_token_refreshes_total', { outcome: 'client_rejected' })).toBe(0);
  });

  it('are many: every alert and every dashboard panel reads gateway metrics', () => {
    expect(new Set(gatewaySelectors.map(([, s]) => s.metric)).size).toBeGreaterThanOrEqual(12);
  });

  it.each(gatewaySelectors)('%s is exported, with its labels and exact label values', (_, selector) => {
    const samples = scrape.samples.filter((s) => s.name === selector.metric);
    expect(samples.length, `${selector.metric} is not in /metrics`).toBeGreaterThan(0);
    for (const m of selector.matchers.filter((x) => !TARGET_LABELS.has(x.label))) {
      const values = samples.map((s) => s.labels.get(m.label)).filter((v): v is string => v !== undefined);
      expect(values.length, `${selector.metric} has no label ${m.label}`).toBeGreaterThan(0);
      if (m.op === '=') expect(values, `${selector.metric}{${m.label}="${m.value}"}`).toContain(m.value);
      if (m.op === '=~') expect(values.some((v) => new RegExp(`^(?:${m.value})$`).test(v)), `${selector.metric}{${m.label}=~"${m.value}"}`).toBe(true);
    }
  });
});
