import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { loginThroughProvider } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { spawnGateway, type GatewayProcess } from '../support/spawn-gateway.js';
import { loginCookie } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway } from '../support/start-test-gateway.js';
import { waitFor } from '../support/wait-for.js';

let idp: TestIdentityProvider;
let api: EchoApi;
let gateway: GatewayProcess;
// Far longer than the in-flight request below: finishing well before it means the kept-alive
// connection was closed once its answer was done, not held until the deadline.
const SHUTDOWN_TIMEOUT_MS = 30_000;

beforeAll(async () => {
  [idp, api] = await Promise.all([startIdentityProvider(), createEchoApi()]);
  gateway = await spawnGateway({ idp, env: { PROXY_ROUTES: `/api=${api.url}`, SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) } });
}, 30_000);

afterAll(async () => {
  await gateway?.kill();
  await Promise.all([idp?.close(), api?.close()]);
});

/** GET over a keep-alive agent, as a load balancer's pool would send it. */
function keepAliveGet(url: string, agent: http.Agent, headers: Record<string, string>): Promise<{ status: number; connection?: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.connection ? { connection: res.headers.connection } : {}) }));
      })
      .on('error', reject);
  });
}

it('on SIGTERM turns readiness off, finishes in-flight proxied requests, refuses new connections and exits 0', async () => {
  const base = gateway.url;
  const { browser } = await loginThroughProvider(`${base}/auth/login`, { username: 'admin', password: 'test' });
  const agent = new http.Agent({ keepAlive: true });
  const headers = { cookie: browser.jar.cookieHeaderFor(`${base}/`)!, 'x-csrf': '1' };
  expect((await keepAliveGet(`${base}/auth/me`, agent, headers)).connection).toBe('keep-alive');

  // A request that is still streaming when the signal arrives, on a kept-alive connection.
  const inFlight = keepAliveGet(`${base}/api/slow?ms=4000&tag=in-flight`, agent, headers);
  await waitFor(() => api.requests.some((r) => r.query['tag'] === 'in-flight'), { what: 'the in-flight request upstream' });
  const stoppedAt = Date.now();
  const exited = gateway.stop();

  let readiness!: Response;
  await waitFor(async () => (readiness = await fetch(`${gateway.adminUrl}/readyz`)).status === 503, { what: '/readyz 503' });
  expect(await json(readiness)).toMatchObject({ shutting_down: true });
  // The listener no longer accepts.
  await waitFor(() => fetch(`${base}/auth/me`).then(() => false, () => true), { what: 'new connections refused' });
  expect(api.requests.find((r) => r.query['tag'] === 'in-flight')?.finished).toBe(false); // all of this while it was in flight

  const answer = await inFlight;
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body).path).toBe('/slow');
  expect(await exited).toBe(0);
  // The kept-alive connection is closed once its answer is done, not held until the deadline.
  expect(Date.now() - stoppedAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS / 2);
  agent.destroy();
  expect(gateway.output()).toMatch(/"shutting down"/);
  expect(gateway.output()).toMatch(/"gateway stopped"/);
}, 60_000);

it('refuses a WebSocket handshake that completes after shutdown began (503), so close() is not held open by it', async () => {
  // An upstream that takes a second to accept: the handshake is still under way when close() starts.
  let handshakeReached = false;
  const upstream = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (_info, done) => ((handshakeReached = true), setTimeout(() => done(true), 1_000)),
  });
  await once(upstream, 'listening');
  upstream.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  const gw = await startTestGateway({
    idp,
    env: { PROXY_ROUTES: `/ws=http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, SHUTDOWN_TIMEOUT_MS: '2000' },
  });
  const client = new WebSocket(`${gw.url.replace('http', 'ws')}/ws/echo`, { origin: gw.publicUrl, headers: { cookie: await loginCookie(gw) } });
  const outcome = new Promise<string>((resolve) => {
    client.on('open', () => resolve('open'));
    client.on('unexpected-response', (_req, res) => resolve(`refused ${res.statusCode}`));
    client.on('error', () => undefined);
  });
  try {
    await waitFor(() => handshakeReached, { what: 'the handshake to reach the upstream' });
    const closed = gw.close().then(() => 'closed');
    expect(await outcome).toBe('refused 503');
    // Bounded far above SHUTDOWN_TIMEOUT_MS (2 s): "not held open", not "fast".
    expect(await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open'), 15_000))])).toBe('closed');
  } finally {
    client.terminate();
    upstream.close();
  }
});
