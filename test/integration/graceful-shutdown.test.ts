import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { loginThroughProvider } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { spawnGateway, type GatewayProcess } from '../support/spawn-gateway.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';

let idp: TestIdentityProvider;
let api: EchoApi;
let gateway: GatewayProcess;

beforeAll(async () => {
  [idp, api] = await Promise.all([startIdentityProvider(), createEchoApi()]);
  gateway = await spawnGateway({ idp, env: { PROXY_ROUTES: `/api=${api.url}`, SHUTDOWN_TIMEOUT_MS: '8000' } });
}, 30_000);

afterAll(async () => {
  await gateway?.kill();
  await Promise.all([idp?.close(), api?.close()]);
});

it('on SIGTERM turns readiness off, finishes in-flight proxied requests, refuses new connections and exits 0', async () => {
  const base = gateway.url;
  const { browser } = await loginThroughProvider(`${base}/auth/login`, { username: 'admin', password: 'test' });

  // A request that is still streaming when the signal arrives.
  const inFlight = browser.fetch(`${base}/api/slow?ms=1500`, { headers: { 'x-csrf': '1' } });
  await new Promise((r) => setTimeout(r, 300));
  const exited = gateway.stop();
  await new Promise((r) => setTimeout(r, 200));

  const readiness = await fetch(`${gateway.adminUrl}/readyz`);
  expect(readiness.status).toBe(503);
  expect(await json(readiness)).toMatchObject({ shutting_down: true });
  await expect(fetch(`${base}/auth/me`)).rejects.toThrow(); // the listener no longer accepts

  const answer = await inFlight;
  expect(answer.status).toBe(200);
  expect((await json(answer)).path).toBe('/slow');
  expect(await exited).toBe(0);
  expect(gateway.output()).toMatch(/"shutting down"/);
  expect(gateway.output()).toMatch(/"gateway stopped"/);
});
