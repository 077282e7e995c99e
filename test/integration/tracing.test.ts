import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { createSessionRecordCodec } from '../../src/session/session-record-codec.js';
import type { SessionTokens } from '../../src/session/session-store.js';
import { createTokenSealer } from '../../src/session/token-sealer.js';
import { finishLogin, startLogin } from '../support/browser-login.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { sessionIdOf, waitUntil } from '../support/proxy-test-kit.js';
import { TEST_SECRET } from '../support/redis-store-harness.js';
import { spawnGateway, type GatewayProcess } from '../support/spawn-gateway.js';
import { startIdentityProvider, TEST_CLIENT_SECRET, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';

let idp: TestIdentityProvider;
let echo: EchoApi;
let redis: RedisServer;
let otlp: OtlpReceiver;
let gateway: GatewayProcess;
const providerTraceparents: string[] = [];

beforeAll(async () => {
  [idp, echo, redis, otlp] = await Promise.all([
    startIdentityProvider({ rotateRefreshTokens: true }),
    createEchoApi(),
    startRedis(),
    startOtlpReceiver(),
  ]);
  idp.provider.on('grant.success', (ctx) => providerTraceparents.push(String(ctx.get('traceparent'))));
  gateway = await spawnGateway({
    idp,
    env: {
      REDIS_ENABLED: 'true',
      REDIS_URL: redis.url,
      PROXY_ROUTES: `/api=${echo.url}`,
      // Longer than the provider's 300 s access tokens: every proxied call refreshes first.
      TOKEN_REFRESH_SKEW_SECONDS: '600',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
  });
}, 60_000);

afterAll(async () => {
  await gateway?.kill();
  await Promise.all([idp?.close(), echo?.close(), redis?.stop(), otlp?.close()]);
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

it('traces login, a proxied call with its refresh, and logout, and records no secret', async () => {
  const pending = await startLogin(`${gateway.url}/auth/login`, { username: 'admin', password: 'test' });
  const code = new URL(pending.callbackUrl).searchParams.get('code')!;
  const login = await finishLogin(pending);
  expect(login.finalResponse.status).toBe(302);
  const cookie = login.jar.cookieHeaderFor(`${gateway.url}/`)!;
  const before = await tokensOf(cookie);

  const response = await fetch(`${gateway.url}/api/things?page=2`, {
    headers: { cookie, 'x-csrf': '1', traceparent: `00-${BROWSER_TRACE_ID}-${BROWSER_SPAN_ID}-01` },
  });
  expect(response.status).toBe(200);
  const echoed = (await response.json()) as { headers: Record<string, string | string[]> };
  const after = await tokensOf(cookie);
  expect(after.access_token).not.toBe(before.access_token);

  const logout = await fetch(`${gateway.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });
  expect(logout.status).toBe(200);

  await waitUntil(() => named('POST /auth/logout').length > 0 && named('oidc.revoke').length > 0, 10_000, 'the logout trace');

  console.log(otlp.spans.map((s) => `${s.traceId.slice(0, 6)} ${s.spanId} <- ${s.parentSpanId} ${s.kind} ${s.name} ${JSON.stringify(s.attributes)}`).join('\n'));
  console.log(echoed.headers['traceparent'], providerTraceparents);
  console.log(gateway.output().split('\n').filter((l) => l.includes('trace_id')).slice(0, 5).join('\n'));

  const everything = otlp.rawBodies.join('\n');
  const secrets = {
    code,
    cookie: cookie.split('=')[1]!,
    sessionId: sessionIdOf(cookie),
    clientSecret: TEST_CLIENT_SECRET,
    sessionSecret: TEST_SECRET,
    ...Object.fromEntries(
      (['access_token', 'refresh_token', 'id_token'] as const).flatMap((k) => [
        [`old ${k}`, before[k]],
        [`new ${k}`, after[k]],
      ]),
    ),
  };
  for (const [what, value] of Object.entries(secrets)) {
    expect(value, what).toBeTruthy();
    expect(everything.includes(String(value)), `${what} appears in an exported span`).toBe(false);
  }
  void childrenOf;
});
