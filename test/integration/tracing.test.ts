import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { createSessionRecordCodec } from '../../src/session/session-record-codec.js';
import type { SessionTokens } from '../../src/session/session-store.js';
import { createTokenSealer } from '../../src/session/token-sealer.js';
import { finishLogin, startLogin } from '../support/browser-login.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { sessionIdOf } from '../support/proxy-test-kit.js';
import { waitUntil } from '../support/wait-for.js';
import { TEST_SECRET } from '../support/redis-store-harness.js';
import { spawnGateway, type GatewayProcess } from '../support/spawn-gateway.js';
import { startIdentityProvider, TEST_CLIENT_SECRET, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';

let idp: TestIdentityProvider;
let echo: EchoApi;
let redis: RedisServer;
let otlp: OtlpReceiver;
let gateway: GatewayProcess;
let replica: GatewayProcess;
const providerTraceparents: string[] = [];
const providerBaggage: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tracing-'));

beforeAll(async () => {
  [idp, echo, redis, otlp] = await Promise.all([
    startIdentityProvider({
      rotateRefreshTokens: true,
      extraClients: [{ client_id: 'orders-api', client_secret: 'orders-api-secret', redirect_uris: ['http://127.0.0.1:1/cb'] }],
    }),
    createEchoApi(),
    startRedis(),
    startOtlpReceiver(),
  ]);
  idp.provider.on('grant.success', (ctx) => {
    providerTraceparents.push(String(ctx.get('traceparent')));
    providerBaggage.push(String(ctx.get('baggage')));
  });
  // A route with a token of its own (token exchange): the grant is a span too.
  const routesFile = join(dir, 'routes.yaml');
  writeFileSync(routesFile, `routes:\n  - prefix: /orders\n    target: ${echo.url}/orders\n    token: { type: exchange, audience: orders-api }\n`);
  const env = {
    ROUTES_FILE: routesFile,
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    PROXY_ROUTES: `/api=${echo.url}`,
    // Longer than the provider's 300 s access tokens: every proxied call refreshes first.
    TOKEN_REFRESH_SKEW_SECONDS: '600',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  };
  gateway = await spawnGateway({ idp, env });
  // A second replica on the same Redis, for a refresh that waits on the other's lock.
  replica = await spawnGateway({ idp, env, publicUrl: gateway.url });
}, 60_000);

afterAll(async () => {
  await Promise.all([gateway?.kill(), replica?.kill()]);
  await Promise.all([idp?.close(), echo?.close(), redis?.stop(), otlp?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const BROWSER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const BROWSER_SPAN_ID = '00f067aa0ba902b7';

async function tokensOf(cookie: string): Promise<SessionTokens> {
  const id = sessionIdOf(cookie);
  const json = await redis.cli('GET', `session:${id}`);
  const record = await createSessionRecordCodec(createTokenSealer([TEST_SECRET])).decode(id, json);
  if (!record) throw new Error('no session record in Redis');
  return record.tokens;
}

const named = (name: string) => otlp.spans.filter((s) => s.name === name);
const childrenOf = (parent: ReceivedSpan) => otlp.spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);

const secrets: Record<string, string | undefined> = { clientSecret: TEST_CLIENT_SECRET, sessionSecret: TEST_SECRET };
const one = (name: string, where: (s: ReceivedSpan) => boolean = () => true) => {
  const found = named(name).filter(where);
  expect(found.map((s) => s.name), `spans named ${name}`).toHaveLength(1);
  return found[0]!;
};
const only = (spans: ReceivedSpan[], name: string) => {
  const found = spans.filter((s) => s.name === name);
  expect(found, `one ${name}`).toHaveLength(1);
  return found[0]!;
};

async function logIn(): Promise<string> {
  const pending = await startLogin(`${gateway.url}/auth/login`, { username: 'admin', password: 'test' });
  const login = await finishLogin(pending);
  expect(login.finalResponse.status).toBe(302);
  const cookie = login.jar.cookieHeaderFor(`${gateway.url}/`)!;
  const n = Object.keys(secrets).length;
  secrets[`code ${n}`] = new URL(pending.callbackUrl).searchParams.get('code')!;
  secrets[`state ${n}`] = new URL(pending.callbackUrl).searchParams.get('state')!;
  secrets[`cookie ${n}`] = cookie.split('=')[1]!;
  secrets[`session id ${n}`] = sessionIdOf(cookie);
  await rememberTokens(cookie, `${n}`);
  return cookie;
}

async function rememberTokens(cookie: string, label: string): Promise<SessionTokens> {
  const tokens = await tokensOf(cookie);
  for (const k of ['access_token', 'refresh_token', 'id_token'] as const) secrets[`${k} ${label}`] = tokens[k];
  return tokens;
}

it('makes a proxied call that needs a refresh one trace: session lookup, refresh with its outcome, upstream call, continued from the browser', async () => {
  const cookie = await logIn();
  const before = await tokensOf(cookie);
  const response = await fetch(`${gateway.url}/api/things?page=2`, {
    headers: { cookie, 'x-csrf': '1', traceparent: `00-${BROWSER_TRACE_ID}-${BROWSER_SPAN_ID}-01`, baggage: 'from=browser' },
  });
  expect(response.status).toBe(200);
  const echoed = (await response.json()) as { headers: Record<string, string | string[] | undefined> };
  const after = await rememberTokens(cookie, 'refreshed');
  expect(after.access_token).not.toBe(before.access_token);
  await waitUntil('the proxied call trace', 10_000, () => named('GET /api').length > 0 && named('oidc.refresh_grant').length > 0);

  // The server span continues the browser's trace, under the browser's span.
  const server = one('GET /api');
  expect(server).toMatchObject({ traceId: BROWSER_TRACE_ID, parentSpanId: BROWSER_SPAN_ID, kind: 2 });
  expect(server.attributes).toMatchObject({ 'http.route': '/api', 'http.response.status_code': 200, 'url.query': 'page=REDACTED' });
  const steps = childrenOf(server);
  const lookup = only(steps, 'session.get');
  const refresh = only(steps, 'token.refresh');
  const upstreamCall = steps.find((s) => s.kind === 3 && s.attributes['server.port'] === Number(new URL(echo.url).port))!;
  expect(upstreamCall).toBeDefined();
  expect(lookup.attributes['oidc_bff.store.kind']).toBe('redis');
  expect(childrenOf(lookup).some((s) => s.attributes['db.system.name'] === 'redis')).toBe(true);

  // The refresh: the lock, a re-read, the grant (with the provider call under it), the write; its outcome.
  expect(refresh.attributes['oidc_bff.refresh.outcome']).toBe('refreshed');
  const refreshSteps = childrenOf(refresh).map((s) => s.name);
  expect(refreshSteps).toEqual(expect.arrayContaining(['session.acquireLock', 'session.get', 'oidc.refresh_grant', 'session.update']));
  const grant = only(childrenOf(refresh), 'oidc.refresh_grant');
  const tokenCall = childrenOf(grant).find((s) => s.kind === 3)!;
  expect(tokenCall.attributes['url.path']).toMatch(/\/token$/);

  // Both the upstream and the provider received the gateway's traceparent: one header, same trace, the client span as parent.
  expect(echoed.headers['traceparent']).toBe(`00-${BROWSER_TRACE_ID}-${upstreamCall.spanId}-01`);
  expect(providerTraceparents).toContain(`00-${BROWSER_TRACE_ID}-${tokenCall.spanId}-01`);
  // Only trace context travels to the provider: nothing the browser put in `baggage`.
  expect(providerBaggage.length).toBeGreaterThan(0);
  expect(providerBaggage.filter((b) => b !== '')).toEqual([]);

  // Every span of the request is in that one trace, and every parent is a span of it (or the browser's).
  const inTrace = otlp.spans.filter((s) => s.traceId === BROWSER_TRACE_ID);
  const ids = new Set([...inTrace.map((s) => s.spanId), BROWSER_SPAN_ID]);
  expect(inTrace.every((s) => ids.has(s.parentSpanId))).toBe(true);

  // The request's log line carries the trace.
  const accessLine = gateway.output().split('\n').filter((l) => l.includes('"path":"/api/things"')).map((l) => JSON.parse(l) as Record<string, unknown>)[0];
  expect(accessLine).toMatchObject({ trace_id: BROWSER_TRACE_ID, span_id: server.spanId });

  // Still fresh now (the skew is over the token's lifetime, so the next call refreshes again, joined by nobody).
  await logOutTraced(cookie);
});

async function logOutTraced(cookie: string) {
  const logout = await fetch(`${gateway.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });
  expect(logout.status).toBe(200);
  await waitUntil('the logout trace', 10_000, () => named('POST /auth/logout').length > 0 && named('oidc.revoke').length > 0);
}

it('traces login, callback (code exchange) and logout (revocation) each as a trace of its own, without the code in the URL', async () => {
  const login = one('GET /auth/login');
  expect(login.parentSpanId).toBe('');
  const callback = one('GET /auth/callback');
  expect(callback.parentSpanId).toBe('');
  expect(callback.traceId).not.toBe(login.traceId);
  expect(callback.attributes['url.query']).toBe('code=REDACTED&state=REDACTED&iss=REDACTED');
  const exchange = only(childrenOf(callback), 'oidc.code_exchange');
  expect(childrenOf(exchange).some((s) => s.kind === 3 && /\/token$/.test(String(s.attributes['url.path'])))).toBe(true);
  expect(providerTraceparents.some((t) => t.startsWith(`00-${callback.traceId}-`))).toBe(true);
  expect(childrenOf(callback).map((s) => s.name)).toContain('session.create');

  const logout = one('POST /auth/logout');
  const revoke = only(childrenOf(logout), 'oidc.revoke');
  expect(revoke.attributes['oidc_bff.token_type']).toBe('refresh_token');
  expect(childrenOf(logout).map((s) => s.name)).toContain('session.delete');
});

it('traces a back-channel logout from the provider', async () => {
  const cookie = await logIn();
  const json = await redis.cli('GET', `session:${sessionIdOf(cookie)}`);
  const { sub, sid } = JSON.parse(json) as { sub: string; sid: string };
  const logoutToken = await idp.signLogoutToken({ sub, sid });
  secrets['logout token'] = logoutToken;
  const answer = await fetch(`${gateway.url}/auth/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: logoutToken }),
  });
  expect(answer.status).toBe(200);
  await waitUntil('the back-channel logout trace', 10_000, () => named('POST /auth/backchannel-logout').length > 0);
  const span = one('POST /auth/backchannel-logout');
  expect(span.attributes['http.response.status_code']).toBe(200);
  expect(childrenOf(span).map((s) => s.name)).toContain('session.deleteBySid');
});

it("shows a refresh that waited for another replica's: outcome reused, the lock wait as a span", async () => {
  const cookie = await logIn();
  const traceOf = (i: number) => `${String(i).repeat(32)}`;
  const call = (gw: GatewayProcess, i: number) =>
    fetch(`${gw.url}/api/things`, { headers: { cookie, 'x-csrf': '1', traceparent: `00-${traceOf(i)}-${BROWSER_SPAN_ID}-01` } });
  // One replica's grant waits at the provider until the other is seen retrying the taken lock (a third SET NX:
  // one each, then a retry), so one refreshes and the other reuses whatever the machine's load.
  const setCalls = async () => Number(/cmdstat_set:calls=(\d+)/.exec(await redis.cli('INFO', 'commandstats'))?.[1] ?? 0);
  const setsBefore = await setCalls();
  const grant = idp.holdRequests('token');
  let answers: Promise<Response[]>;
  try {
    answers = Promise.all([call(gateway, 1), call(replica, 2)]);
    await waitUntil('one refresh grant at the provider', 15_000, () => grant.held() === 1);
    await waitUntil('the other replica retrying the lock', 15_000, async () => (await setCalls()) - setsBefore >= 3);
  } finally {
    grant.release();
  }
  expect((await answers).map((a) => a.status)).toEqual([200, 200]);
  await rememberTokens(cookie, 'raced');
  const refreshOf = (traceId: string) => otlp.spans.find((s) => s.traceId === traceId && s.name === 'token.refresh');
  await waitUntil('both refresh spans', 10_000, () => refreshOf(traceOf(1)) !== undefined && refreshOf(traceOf(2)) !== undefined);
  const refreshes = [refreshOf(traceOf(1))!, refreshOf(traceOf(2))!];
  const outcomes = refreshes.map((s) => s.attributes['oidc_bff.refresh.outcome']).sort();
  expect(outcomes).toEqual(['refreshed', 'reused']);
  const waited = refreshes.find((s) => s.attributes['oidc_bff.refresh.outcome'] === 'reused')!;
  expect(waited.attributes['oidc_bff.refresh.lock_wait_ms']).toBeGreaterThan(0);
  const waitSpans = childrenOf(waited).map((s) => s.name);
  expect(waitSpans).toContain('token.refresh.lock_wait');
  expect(waitSpans).not.toContain('oidc.refresh_grant');
});

it("traces a route's own token grant (token exchange) by its grant type, never the tokens", async () => {
  const cookie = await logIn();
  const response = await fetch(`${gateway.url}/orders/42`, { headers: { cookie, 'x-csrf': '1' } });
  expect(response.status).toBe(200);
  const echoed = (await response.json()) as { headers: Record<string, string | undefined> };
  secrets['exchanged token'] = echoed.headers['authorization']?.replace(/^Bearer /, '');
  await rememberTokens(cookie, 'exchange');
  await waitUntil('the token exchange trace', 10_000, () => named('oidc.grant').length > 0 && named('GET /orders').length > 0);
  const server = one('GET /orders');
  const grant = one('oidc.grant');
  expect(grant.traceId).toBe(server.traceId);
  expect(grant.attributes['oidc_bff.grant_type']).toMatch(/token-exchange/);
  expect(childrenOf(grant).some((s) => s.kind === 3 && /\/token$/.test(String(s.attributes['url.path'])))).toBe(true);
});

it('traces a WebSocket handshake like a proxied call: server span, session lookup, refresh, its traceparent to the upstream', async () => {
  const cookie = await logIn();
  const traceId = 'feedfacefeedfacefeedfacefeedface';
  const socket = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}/api/live?topic=x`, {
    headers: { cookie, origin: gateway.url, traceparent: `00-${traceId}-${BROWSER_SPAN_ID}-01` },
  });
  await once(socket, 'open');
  socket.terminate();
  await rememberTokens(cookie, 'websocket');
  await waitUntil('the handshake trace', 10_000, () => otlp.spans.some((s) => s.traceId === traceId && s.kind === 2));

  const server = one('GET /api', (s) => s.traceId === traceId);
  expect(server).toMatchObject({ parentSpanId: BROWSER_SPAN_ID, kind: 2 });
  expect(server.attributes).toMatchObject({ 'http.route': '/api', 'http.response.status_code': 101, 'url.query': 'topic=REDACTED' });
  const steps = childrenOf(server).map((s) => s.name);
  expect(steps).toEqual(expect.arrayContaining(['session.get', 'token.refresh']));
  // The upstream's handshake names the gateway's span as its parent, once.
  const upstream = echo.requests.filter((r) => r.upgrade).at(-1)!;
  expect(upstream.headers['traceparent']).toBe(`00-${traceId}-${server.spanId}-01`);

  // A refused handshake (no session) is a span too, with the refusal's status.
  const refusedTrace = 'deadbeefdeadbeefdeadbeefdeadbeef';
  const refused = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}/api/live`, {
    headers: { origin: gateway.url, traceparent: `00-${refusedTrace}-${BROWSER_SPAN_ID}-01` },
  });
  refused.on('error', () => undefined);
  const [, answer] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number; destroy(): void }];
  answer.destroy();
  expect(answer.statusCode).toBe(401);
  await waitUntil('the refused handshake trace', 10_000, () => otlp.spans.some((s) => s.traceId === refusedTrace && s.kind === 2));
  expect(one('GET /api', (s) => s.traceId === refusedTrace).attributes['http.response.status_code']).toBe(401);
});

it('sends the spans still buffered when stopped with SIGTERM, and a receiver that is down does not fail the shutdown', async () => {
  const base = { PROXY_ROUTES: `/api=${echo.url}`, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '600000' };
  const buffered = await spawnGateway({ idp, env: { ...base, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url } });
  const marker = 'abcdef0123456789abcdef0123456789';
  await fetch(`${buffered.url}/auth/me`, { headers: { traceparent: `00-${marker}-${BROWSER_SPAN_ID}-01` } }).then((r) => r.body?.cancel());
  expect(otlp.spans.some((s) => s.traceId === marker)).toBe(false); // still in the batch
  expect(await buffered.stop()).toBe(0);
  expect(otlp.spans.find((s) => s.traceId === marker)?.name).toBe('GET /auth/me');

  // Nothing listens on the endpoint: the last export fails, the exit code stays 0.
  const unreachable = await spawnGateway({ idp, env: { ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' } });
  await fetch(`${unreachable.url}/auth/me`).then((r) => r.body?.cancel());
  expect(await unreachable.stop()).toBe(0);
  // Two gateway processes started and stopped, each loading the OpenTelemetry SDK: a loaded machine needs more than the default 30 s.
}, 120_000);

it('never exports a token, cookie, code, session id or secret, and no probe of the admin port', async () => {
  const everything = otlp.rawBodies.join('\n');
  expect(Object.keys(secrets).length).toBeGreaterThan(15);
  for (const [what, value] of Object.entries(secrets)) {
    expect(value, what).toBeTruthy();
    expect(everything.includes(String(value)), `${what} appears in an exported span`).toBe(false);
  }
  expect(everything).not.toMatch(/bearer|bff_session/i);
  expect(otlp.spans.filter((s) => /healthz|readyz|metrics/.test(String(s.attributes['url.path'])) && s.kind === 2)).toEqual([]);
  expect(new Set(otlp.spans.map((s) => s.service))).toEqual(new Set(['oidc-bff']));
});
