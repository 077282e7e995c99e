/**
 * SHUTDOWN_DELAY_MS: on SIGTERM a replica behind a balancer that health-checks
 * /readyz (HAProxy) must first say "not ready" and keep serving until the
 * balancer has taken it out, and only then close connections: closing a
 * kept-alive connection the balancer is about to reuse is a 502 for a user.
 */
import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { loginThroughProvider } from '../support/browser-login.js';
import { spawnGateway, type GatewayProcess } from '../support/spawn-gateway.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { waitFor } from '../support/wait-for.js';

// Long enough to be told apart from "drains at once" on a loaded machine.
const SHUTDOWN_DELAY_MS = 6_000;

let idp: TestIdentityProvider;
let api: EchoApi;
let gateway: GatewayProcess;

beforeAll(async () => {
  [idp, api] = await Promise.all([startIdentityProvider(), createEchoApi()]);
  gateway = await spawnGateway({
    idp,
    env: { PROXY_ROUTES: `/api=${api.url}`, SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS), SHUTDOWN_TIMEOUT_MS: '5000' },
  });
}, 30_000);

afterAll(async () => {
  await gateway?.kill();
  await Promise.all([idp?.close(), api?.close()]);
});

function get(url: string, agent: http.Agent, headers: Record<string, string>): Promise<{ status: number; connection?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers.connection ? { connection: res.headers.connection } : {}) }));
      })
      .on('error', reject);
  });
}

it('on SIGTERM answers /readyz 503 at once, still serves every request (ending each connection) for SHUTDOWN_DELAY_MS, then drains and exits 0', async () => {
  const base = gateway.url;
  const { browser } = await loginThroughProvider(`${base}/auth/login`, { username: 'admin', password: 'test' });
  const headers = { cookie: browser.jar.cookieHeaderFor(`${base}/`)!, 'x-csrf': '1' };
  // A balancer's pool: a connection kept alive from before the signal.
  const pooled = new http.Agent({ keepAlive: true, maxSockets: 1 });
  expect(await get(`${base}/api/before`, pooled, headers)).toMatchObject({ status: 200, connection: 'keep-alive' });

  const stoppedAt = Date.now();
  const exited = gateway.stop();
  await waitFor(async () => (await fetch(`${gateway.adminUrl}/readyz`)).status === 503, { what: '/readyz 503' });
  const notReadyAfterMs = Date.now() - stoppedAt;

  // Until the balancer has noticed, requests keep coming: on the pooled connection and on new ones.
  const answers: { status: number; connection?: string }[] = [];
  answers.push(await get(`${base}/api/pooled`, pooled, headers));
  let served = 0;
  while (Date.now() - stoppedAt < SHUTDOWN_DELAY_MS - 2_000) {
    const fresh = new http.Agent({ keepAlive: true });
    answers.push(await get(`${base}/api/during`, fresh, headers));
    fresh.destroy();
    served++;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(notReadyAfterMs).toBeLessThan(SHUTDOWN_DELAY_MS - 2_000);
  expect(served).toBeGreaterThan(0);
  // Every one answered, and each told the client not to reuse its connection.
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
  expect(answers.map((a) => a.connection)).toEqual(answers.map(() => 'close'));

  // Then the drain: new connections refused, and the process exits 0.
  await waitFor(() => fetch(`${base}/auth/me`).then(() => false, () => true), { what: 'new connections refused', timeoutMs: 30_000 });
  expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(SHUTDOWN_DELAY_MS - 500);
  expect(await exited).toBe(0);
  pooled.destroy();
  expect(gateway.output()).toMatch(/"delay_ms":6000/);
}, 90_000);
