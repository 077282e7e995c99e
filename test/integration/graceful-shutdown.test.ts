import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { loginThroughProvider } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { TEST_SECRET } from '../support/redis-store-harness.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { findFreePort } from '../support/start-redis.js';

let idp: TestIdentityProvider;
let api: EchoApi;
let gateway: ChildProcess;
let base: string;
let admin: string;
let output = '';

beforeAll(async () => {
  [idp, api] = await Promise.all([startIdentityProvider(), createEchoApi()]);
  const [port, adminPort] = [await findFreePort(), await findFreePort()];
  base = `http://127.0.0.1:${port}`;
  admin = `http://127.0.0.1:${adminPort}`;
  await idp.updateClient({ redirect_uris: [`${base}/auth/callback`] });
  gateway = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      PUBLIC_URL: base,
      OIDC_ISSUER: idp.issuer,
      OIDC_CLIENT_ID: 'bff',
      OIDC_CLIENT_SECRET: idp.client.client_secret!,
      SESSION_SECRET: TEST_SECRET,
      PROXY_ROUTES: `/api=${api.url}`,
      SHUTDOWN_TIMEOUT_MS: '8000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateway.stdout!.on('data', (d) => (output += d));
  gateway.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ready = await fetch(`${admin}/readyz`).then((r) => r.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline || gateway.exitCode !== null) throw new Error(`gateway did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 30_000);

afterAll(async () => {
  if (gateway.exitCode === null) gateway.kill('SIGKILL');
  await Promise.all([idp?.close(), api?.close()]);
});

it('on SIGTERM turns readiness off, finishes in-flight proxied requests, refuses new connections and exits 0', async () => {
  const { browser } = await loginThroughProvider(`${base}/auth/login`, { username: 'admin', password: 'test' });
  const exited = new Promise<number | null>((resolve) => gateway.once('exit', (code) => resolve(code)));

  // A request that is still streaming when the signal arrives.
  const inFlight = browser.fetch(`${base}/api/slow?ms=1500`, { headers: { 'x-csrf': '1' } });
  await new Promise((r) => setTimeout(r, 300));
  gateway.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));

  const readiness = await fetch(`${admin}/readyz`);
  expect(readiness.status).toBe(503);
  expect(await json(readiness)).toMatchObject({ shutting_down: true });
  await expect(fetch(`${base}/auth/me`)).rejects.toThrow(); // the listener no longer accepts

  const answer = await inFlight;
  expect(answer.status).toBe(200);
  expect((await json(answer)).path).toBe('/slow');
  expect(await exited).toBe(0);
  expect(output).toMatch(/"shutting down"/);
  expect(output).toMatch(/"gateway stopped"/);
});
