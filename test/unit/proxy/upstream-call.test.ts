import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StepUpRequiredError, UpstreamUnreachableError } from '../../../src/errors.js';
import { createUpstream, type Upstream } from '../../../src/proxy/forward-request.js';
import { waitFor } from '../../support/wait-for.js';

// The upstream call's own paths, between two real sockets: what the client sees, what the upstream saw.
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];
const upstreams: Upstream[] = [];
const nets: NetServer[] = [];
afterEach(async () => {
  for (const server of nets.splice(0)) server.close();
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function listen(handler: Handler): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Outcome {
  /** forward()'s own end: 'resolved' or the error it rejected with. */
  settled?: 'resolved' | Error;
}

/** A gateway stand-in whose only job is upstream.forward(); its outcome is kept for the test. */
async function proxyTo(
  origin: string,
  extra: Partial<Parameters<Upstream['forward']>[0]> = {},
  before: (res: ServerResponse) => Promise<unknown> | void = () => {},
): Promise<{ url: string; outcome: Outcome }> {
  const upstream = createUpstream({ headersTimeoutMs: 5_000 });
  upstreams.push(upstream);
  const outcome: Outcome = {};
  const url = await listen(async (req, res) => {
    await before(res);
    await upstream
      .forward({ req, res, origin, path: req.url!, headers: { 'x-attempt': '1' }, isGatewayCookie: () => false, ...extra })
      .then(
        () => (outcome.settled = 'resolved'),
        (err: Error) => {
          outcome.settled = err;
          res.writeHead(err instanceof StepUpRequiredError ? 401 : 502).end(err.constructor.name);
        },
      );
  });
  return { url, outcome };
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

const stepUpChallenge = 'Bearer error="insufficient_user_authentication", acr_values="2"';

describe('the upstream call', () => {
  it('passes the final answer after an informational 103', async () => {
    const origin = await listen((_req, res) => {
      res.writeEarlyHints({ link: '</app.css>; rel=preload; as=style' });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('after the hints');
    });
    const { url } = await proxyTo(origin);
    expect(await get(`${url}/x`)).toEqual({ status: 200, body: 'after the hints' });
  });

  it("answers an upstream's step-up challenge itself even when the 401's body never ends, and lets that call go", async () => {
    let upstreamClosed = false;
    const origin = await listen((req, res) => {
      res.writeHead(401, { 'www-authenticate': stepUpChallenge });
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024, 0x61)), 5);
      req.socket.once('close', () => {
        clearInterval(timer);
        upstreamClosed = true;
      });
    });
    const { url, outcome } = await proxyTo(origin);
    expect(await get(`${url}/x`)).toEqual({ status: 401, body: 'StepUpRequiredError' });
    expect(outcome.settled).toBeInstanceOf(StepUpRequiredError);
    await waitFor(() => upstreamClosed, { what: 'the upstream call to be cut' });
  });

  it('sends a request once more with the headers onAnswer returns, dropping the first answer, and only once', async () => {
    const attempts: (string | undefined)[] = [];
    const origin = await listen((req, res) => {
      attempts.push(req.headers['x-attempt'] as string | undefined);
      res.writeHead(401, { 'content-type': 'text/plain' }).end(`refused attempt ${attempts.length}`);
    });
    const { url } = await proxyTo(origin, { onAnswer: (status, _headers, canReplay) => (status === 401 && canReplay ? { 'x-attempt': '2' } : undefined) });
    // The replay is refused as well: its answer is the client's, and no third attempt is made.
    expect(await get(`${url}/x`)).toEqual({ status: 401, body: 'refused attempt 2' });
    expect(attempts).toEqual(['1', '2']);
  });

  it('aborts the upstream call of a client that hangs up before the answer, and settles without an error', async () => {
    let arrived = false;
    let upstreamClosed = false;
    const origin = await listen((req) => {
      arrived = true; // and never answers
      req.socket.once('close', () => (upstreamClosed = true));
    });
    const { url, outcome } = await proxyTo(origin);
    const client = httpRequest(`${url}/x`);
    client.on('error', () => {});
    client.end();
    await waitFor(() => arrived, { what: 'the request upstream' });
    client.destroy();
    await waitFor(() => upstreamClosed && outcome.settled === 'resolved', { what: 'the upstream call aborted and forward() settled' });
  });

  it('settles, and leaves the upstream connection free, for a response closed before the call began', async () => {
    let calls = 0;
    const origin = await listen((_req, res) => {
      calls += 1;
      res.end(Buffer.alloc(4 * 1024 * 1024, 0x61)); // more than one write: a full socket would wait for 'drain'
    });
    // Closed and its 'close' already emitted when forward() begins: no close listener can hear it any more.
    const { url, outcome } = await proxyTo(origin, {}, (res) => once(res.destroy(), 'close'));
    await fetch(`${url}/x`).catch(() => undefined); // the client sees its connection cut
    await waitFor(() => outcome.settled === 'resolved', { what: 'forward() to settle' });
    expect(calls).toBeLessThanOrEqual(1);
  });

  // Written byte for byte: mixed-case names and repeated lines, as a real upstream may send them.
  const rawAnswer =
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: bff_session=stolen; Path=/\r\nSet-Cookie: app=1\r\n' +
    'Set-Cookie: =bff_session=nameless\r\nset-cookie: lang=en\r\nVary: Accept\r\nVARY: Origin\r\nConnection: keep-alive, X-Hop\r\n' +
    'X-Hop: 1\r\nX-Request-Id: upstream-own\r\nX-Frame-Options: SAMEORIGIN\r\nContent-Length: 2\r\n\r\nok';
  const ownList = ['X-Request-Id', 'gw-1', 'X-Frame-Options', 'DENY', 'X-Content-Type-Options', 'nosniff'];

  it.each([
    ['sent in its writeHead (the dispatch path)', true],
    ['set on the response before (the Koa path)', false],
  ])("passes the upstream's header lines, minus hop-by-hop, Connection-listed, gateway-owned and gateway-cookie ones, with the gateway's own %s", async (_, inWriteHead) => {
    const upstream = createNetServer((socket) => socket.once('data', () => socket.end(rawAnswer)));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    nets.push(upstream);
    const { url } = await proxyTo(
      `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      {
        isGatewayCookie: (name) => name === 'bff_session',
        ...(inWriteHead ? { ownHeaders: { list: ownList, lowerNames: ['x-request-id', 'x-frame-options', 'x-content-type-options'] } } : {}),
      },
      (res) => {
        if (!inWriteHead) for (let i = 0; i < ownList.length; i += 2) res.setHeader(ownList[i]!, ownList[i + 1]!);
      },
    );
    const answer = await new Promise<IncomingMessage>((resolve, reject) => httpRequest(`${url}/x`, resolve).on('error', reject).end());
    answer.resume();
    const lines: string[] = [];
    for (let i = 0; i < answer.rawHeaders.length; i += 2) lines.push(`${answer.rawHeaders[i]!.toLowerCase()}: ${answer.rawHeaders[i + 1]}`);
    // The order differs between the two paths (Node writes headers set before first); the lines do not.
    expect(lines.filter((line) => !/^(date|connection|keep-alive):/.test(line)).sort()).toEqual([
      'content-length: 2',
      'content-type: text/plain',
      'set-cookie: app=1',
      'set-cookie: lang=en',
      'vary: Accept',
      'vary: Origin',
      'x-content-type-options: nosniff',
      'x-frame-options: SAMEORIGIN', // the upstream owns its content's headers
      'x-request-id: gw-1', // the gateway's: the one in its access line
    ]);
  });

  it('rejects as unreachable when nothing listens, before any answer was sent', async () => {
    const closed = await listen(() => {});
    const gone = servers.pop()!;
    gone.close();
    await once(gone, 'close');
    const { url, outcome } = await proxyTo(closed);
    expect((await get(`${url}/x`)).status).toBe(502);
    expect(outcome.settled).toBeInstanceOf(UpstreamUnreachableError);
  });
});
