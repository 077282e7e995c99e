import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createTestClock, loginCookie, type TestClock } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const SESSION_CHECK_MS = 200;
const ACCESS_TOKEN_TTL_MS = 300_000;

/** A WebSocket echo upstream (ws) that records every handshake and how each connection ended. */
interface WsUpstream {
  url: string;
  handshakes: Array<{ url: string; headers: IncomingHttpHeaders }>;
  sockets: WebSocket[];
  closes: Array<{ code: number; reason: string }>;
  close(): Promise<void>;
}

async function startWsUpstream(): Promise<WsUpstream> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: true,
    handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
    verifyClient: (info, done) => (info.req.url?.startsWith('/forbidden') ? done(false, 403, 'Forbidden') : done(true)),
  });
  await once(wss, 'listening');
  const upstream: WsUpstream = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    handshakes: [],
    sockets: [],
    closes: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of wss.clients) socket.terminate();
        wss.close(() => resolve());
      }),
  };
  wss.on('connection', (socket, req) => {
    upstream.handshakes.push({ url: req.url ?? '', headers: req.headers });
    upstream.sockets.push(socket);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    socket.on('close', (code, reason) => upstream.closes.push({ code, reason: reason.toString() }));
  });
  return upstream;
}

type Connected = { kind: 'open'; ws: WebSocket } | { kind: 'refused'; status: number; body: Record<string, unknown>; headers: IncomingHttpHeaders };

/** Opens a WebSocket like a browser on PUBLIC_URL would (its Origin, its cookie), unless told otherwise. */
function connect(
  gateway: TestGateway,
  path: string,
  options: { cookie?: string; origin?: string | null; protocols?: string[] } = {},
): Promise<Connected> {
  const origin = options.origin === undefined ? new URL(gateway.publicUrl).origin : options.origin;
  const ws = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}${path}`, options.protocols ?? [], {
    ...(origin !== null ? { origin } : {}),
    headers: options.cookie ? { cookie: options.cookie } : {},
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ kind: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const json = (res.headers['content-type'] ?? '').startsWith('application/json');
        resolve({ kind: 'refused', status: res.statusCode ?? 0, body: json ? (JSON.parse(text) as Record<string, unknown>) : { text }, headers: res.headers });
        ws.on('error', () => undefined); // aborting a handshake in progress reports itself as an error
        ws.terminate();
      });
    });
    ws.once('error', reject);
  });
}

async function open(gateway: TestGateway, path: string, options: Parameters<typeof connect>[2]): Promise<WebSocket> {
  const result = await connect(gateway, path, options);
  if (result.kind !== 'open') throw new Error(`expected an open WebSocket, got ${result.status} ${JSON.stringify(result.body)}`);
  return result.ws;
}

async function roundTrip(ws: WebSocket, message: string | Buffer): Promise<WebSocket.RawData> {
  const reply = once(ws, 'message');
  ws.send(message);
  return ((await reply) as [WebSocket.RawData])[0];
}

async function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
}

let redis: RedisServer;
let idp: TestIdentityProvider;
let upstream: WsUpstream;
let clock: TestClock;
let replicaA: TestGateway;
let replicaB: TestGateway;
let cookie: string;

beforeAll(async () => {
  [redis, idp, upstream] = await Promise.all([startRedis(), startIdentityProvider(), startWsUpstream()]);
  clock = createTestClock();
  const env = { PROXY_ROUTES: `/ws=${upstream.url.replace(/^ws/, 'http')}`, WEBSOCKET_SESSION_CHECK_MS: String(SESSION_CHECK_MS) };
  replicaA = await startTestGateway({ idp, redisUrl: redis.url, clock: clock.now, env });
  replicaB = await startTestGateway({ idp, redisUrl: redis.url, clock: clock.now, env, publicUrl: replicaA.publicUrl });
  cookie = await loginCookie(replicaA);
});

afterAll(async () => {
  await Promise.all([replicaA?.close(), replicaB?.close()]);
  await Promise.all([upstream?.close(), idp?.close(), redis?.stop()]);
});

describe('WebSocket proxy', () => {
  it('echoes text and large binary messages through the gateway, negotiating subprotocol and compression end to end', async () => {
    const ws = await open(replicaA, '/ws/chat?room=1', { cookie: `${cookie}; theme=dark`, protocols: ['chat.v1'] });
    expect(ws.protocol).toBe('chat.v1');
    expect(ws.extensions).toContain('permessage-deflate');
    expect(String(await roundTrip(ws, 'hello'))).toBe('hello');
    const big = Buffer.alloc(3 * 1024 * 1024, 7); // 64-bit extended payload length
    expect(Buffer.compare(Buffer.from((await roundTrip(ws, big)) as Buffer), big)).toBe(0);
    expect(String(await roundTrip(ws, 'still framed'))).toBe('still framed');

    const handshake = upstream.handshakes.at(-1)!;
    expect(handshake.url).toBe('/chat?room=1');
    expect(handshake.headers['authorization']).toMatch(/^Bearer ey/);
    expect(handshake.headers['cookie']).toBe('theme=dark');
    expect(handshake.headers['x-forwarded-for']).toBe('127.0.0.1');
    ws.close(1000, 'done');
    expect(await closeOf(ws)).toEqual({ code: 1000, reason: 'done' });
  });

  it.each([
    ['without a session', { origin: undefined, cookie: false }, 401, 'unauthenticated'],
    ['with a forged cookie', { origin: undefined, cookie: 'bff_session=forged.value' }, 401, 'unauthenticated'],
    ['from a foreign Origin', { origin: 'https://evil.example', cookie: true }, 403, 'origin_mismatch'],
    ['without an Origin', { origin: null, cookie: true }, 403, 'origin_mismatch'],
  ] as const)('refuses the upgrade %s and never reaches the upstream', async (_name, given, status, code) => {
    const before = upstream.handshakes.length;
    const result = await connect(replicaA, '/ws/chat', {
      ...(given.origin !== undefined ? { origin: given.origin } : {}),
      ...(given.cookie === true ? { cookie } : typeof given.cookie === 'string' ? { cookie: given.cookie } : {}),
    });
    expect(result).toMatchObject({ kind: 'refused', status, body: { error: code } });
    // The same headers as any other answer of ours: a request id to quote, no sniffing, no caching.
    expect(result.kind === 'refused' && result.headers).toMatchObject({
      'x-request-id': expect.any(String),
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
    expect(upstream.handshakes.length).toBe(before);
  });

  it('refuses a path escape with 400 and an unrouted path with 404', async () => {
    // (%2e%2e would be normalised away by the client's URL parser already.)
    expect(await connect(replicaA, '/ws/x%2F..%2Fadmin', { cookie })).toMatchObject({ status: 400, body: { error: 'invalid_path' } });
    expect(await connect(replicaA, '/elsewhere', { cookie })).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  it('answers a plain request that offers another protocol (Upgrade: h2c) as if no upgrade was offered', async () => {
    const { hostname, port } = new URL(replicaA.url);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: hostname, port, path: '/auth/me', headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA', cookie } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ user: { preferred_username: 'admin' } });
  });

  it("passes the upstream's own refusal of the handshake on", async () => {
    expect(await connect(replicaA, '/ws/forbidden', { cookie })).toMatchObject({ kind: 'refused', status: 403, body: { text: 'Forbidden' } });
  });

  it('refreshes the access token before upgrading when it is due', async () => {
    const first = await open(replicaB, '/ws/a', { cookie });
    const before = upstream.handshakes.at(-1)!.headers['authorization'];
    const grants = idp.counters.refreshGrants;
    clock.advance(ACCESS_TOKEN_TTL_MS);
    const second = await open(replicaB, '/ws/b', { cookie });
    expect(idp.counters.refreshGrants).toBe(grants + 1);
    expect(upstream.handshakes.at(-1)!.headers['authorization']).not.toBe(before);
    // Sockets opened before the refresh keep working: the upstream checked their token at the handshake.
    expect(String(await roundTrip(first, 'old'))).toBe('old');
    first.close();
    second.close();
  });

  it('closes with 1014 when the upstream drops the connection without a close', async () => {
    const ws = await open(replicaA, '/ws/drop', { cookie });
    await roundTrip(ws, 'ping');
    upstream.sockets.at(-1)!.terminate();
    expect(await closeOf(ws)).toEqual({ code: 1014, reason: 'upstream went away' });
  });

  it("relays the upstream's own close code", async () => {
    const ws = await open(replicaA, '/ws/bye', { cookie });
    await roundTrip(ws, 'ping');
    upstream.sockets.at(-1)!.close(4000, 'bye');
    expect(await closeOf(ws)).toEqual({ code: 4000, reason: 'bye' });
  });

  it('closes with 1008 on both ends once the session is logged out on another replica', async () => {
    const own = await loginCookie(replicaA);
    const ws = await open(replicaA, '/ws/session', { cookie: own });
    await roundTrip(ws, 'ping');
    const upstreamSocket = upstream.sockets.at(-1)!;
    const upstreamClosed = once(upstreamSocket, 'close');
    const started = Date.now();
    const closed = closeOf(ws);
    const logout = await fetch(`${replicaB.url}/auth/logout`, { method: 'POST', headers: { cookie: own, 'x-csrf': '1', accept: 'application/json' } });
    expect(logout.status).toBe(200);
    expect(await closed).toEqual({ code: 1008, reason: 'session ended' });
    // Closed by the session check, not by anything later: nothing else closes an idle socket within
    // 10 s. Generous on purpose (a loaded machine delays timers); how promptly is not a pass/fail line here.
    expect(Date.now() - started).toBeLessThan(10_000);
    const [code] = (await upstreamClosed) as [number];
    expect(code).toBe(1008);
  });

  it('closes open WebSockets with 1001 when the gateway shuts down', async () => {
    const env = { PROXY_ROUTES: `/ws=${upstream.url.replace(/^ws/, 'http')}`, SHUTDOWN_TIMEOUT_MS: '2000' };
    const leaving = await startTestGateway({ idp, redisUrl: redis.url, env, publicUrl: replicaA.publicUrl });
    const ws = await open(leaving, '/ws/shutdown', { cookie });
    await roundTrip(ws, 'ping');
    const closed = closeOf(ws);
    await leaving.close();
    expect(await closed).toEqual({ code: 1001, reason: 'gateway shutting down' });
  });
});
