import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { loginThroughProvider } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { spawnGateway, type GatewayProcess } from '../support/spawn-gateway.js';
import { loginCookie } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway } from '../support/start-test-gateway.js';
import { waitFor } from '../support/wait-for.js';

let idp: TestIdentityProvider;
let api: HeldUpstream;
let gateway: GatewayProcess;
// Far longer than the drain below: finishing well before it means the kept-alive
// connection was closed once its answer was done, not held until the deadline.
const SHUTDOWN_TIMEOUT_MS = 30_000;

/** An upstream that answers each request only when the test releases it, so "still in flight" never depends on a clock. */
interface HeldUpstream {
  url: string;
  /** Paths of the requests that arrived and are not answered yet. */
  readonly pending: string[];
  release(path: string): void;
  close(): Promise<void>;
}

async function startHeldUpstream(): Promise<HeldUpstream> {
  const waiting = new Map<string, http.ServerResponse>();
  const server = http.createServer((req, res) => void waiting.set(req.url ?? '/', res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get pending() {
      return [...waiting.keys()];
    },
    release(path) {
      const res = waiting.get(path);
      waiting.delete(path);
      res?.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path }));
    },
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

beforeAll(async () => {
  [idp, api] = await Promise.all([startIdentityProvider(), startHeldUpstream()]);
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

  // A request still waiting for its upstream when the signal arrives, on a kept-alive connection; answered only below.
  const inFlight = keepAliveGet(`${base}/api/in-flight`, agent, headers);
  await waitFor(() => api.pending.includes('/in-flight'), { what: 'the in-flight request upstream' });
  const stoppedAt = Date.now();
  const exited = gateway.stop();

  let readiness!: Response;
  await waitFor(async () => (readiness = await fetch(`${gateway.adminUrl}/readyz`)).status === 503, { what: '/readyz 503' });
  expect(await json(readiness)).toMatchObject({ shutting_down: true });
  // The listener no longer accepts.
  await waitFor(() => fetch(`${base}/auth/me`).then(() => false, () => true), { what: 'new connections refused' });
  expect(api.pending).toEqual(['/in-flight']); // all of this while it was in flight

  api.release('/in-flight');
  const answer = await inFlight;
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body).path).toBe('/in-flight');
  expect(await exited).toBe(0);
  // The kept-alive connection is closed once its answer is done, not held until the deadline.
  expect(Date.now() - stoppedAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS / 2);
  agent.destroy();
  expect(gateway.output()).toMatch(/"shutting down"/);
  expect(gateway.output()).toMatch(/"gateway stopped"/);
}, 60_000);

it('refuses a WebSocket handshake that completes after shutdown began (503), so close() is not held open by it', async () => {
  // An upstream that accepts only when the test says so: after close() has started, whatever the machine's load.
  let accept: (() => void) | undefined;
  const upstream = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (_info, done) => void (accept = () => done(true)),
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
    await waitFor(() => accept !== undefined, { what: 'the handshake to reach the upstream' });
    const closed = gw.close().then(() => 'closed');
    accept!();
    expect(await outcome).toBe('refused 503');
    // Bounded far above SHUTDOWN_TIMEOUT_MS (2 s): "not held open", not "fast".
    expect(await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open'), 15_000))])).toBe('closed');
  } finally {
    client.terminate();
    upstream.close();
  }
});
