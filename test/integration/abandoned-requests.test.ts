/**
 * A client that gives up before the upstream answers: the access log and
 * bff_http_requests_total record nginx's 499 ("client closed request"), not
 * a status nobody received (Koa's default 404 used to leak through). A client
 * that leaves in the middle of an answer keeps the status it was sent.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { apiHeaders, loginCookie } from '../support/proxy-test-kit.js';
import { waitUntil } from '../support/wait-for.js';
import { scrapeMetrics } from '../support/scrape-metrics.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let idp: TestIdentityProvider;
let echo: EchoApi;
let gateway: TestGateway;
let cookie: string;

beforeAll(async () => {
  [idp, echo] = await Promise.all([startIdentityProvider(), createEchoApi()]);
  gateway = await startTestGateway({ idp, env: { PROXY_ROUTES: `/api=${echo.url}` } });
  cookie = await loginCookie(gateway);
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([echo?.close(), idp?.close()]);
});

interface AccessLine {
  msg: string;
  method: string;
  path: string;
  status: number;
  completed: boolean;
}

const accessLinesFor = (path: string): AccessLine[] =>
  gateway.logs.map((line) => JSON.parse(line) as AccessLine).filter((line) => line.msg === 'request' && line.path === path);

const proxiedRequests = async (status: string) =>
  (await scrapeMetrics(gateway.adminUrl)).value('bff_http_requests_total', { route: 'proxy:/api', method: 'GET', status });

/** A GET through the gateway on a raw socket, so the test decides when the client hangs up. */
function get(path: string): http.ClientRequest {
  const req = http.request(`${gateway.url}${path}`, { headers: apiHeaders(cookie), agent: false });
  req.on('error', () => undefined); // destroyed on purpose below
  req.end();
  return req;
}

describe('a client that leaves before the answer', () => {
  it('is logged and counted as 499, never as 404', async () => {
    const [before404, before499] = [await proxiedRequests('404'), await proxiedRequests('499')];
    const req = get('/api/slow?ms=30000&tag=abandoned');
    const upstreamCall = () => echo.requests.find((r) => r.query['tag'] === 'abandoned');
    await waitUntil('the request to reach the upstream', 15_000, () => upstreamCall() !== undefined);
    req.destroy();
    await waitUntil('the upstream call to be aborted', 15_000, () => upstreamCall()!.aborted);
    await waitUntil('the access log line', 15_000, () => accessLinesFor('/api/slow').length > 0);

    expect(accessLinesFor('/api/slow')).toEqual([expect.objectContaining({ method: 'GET', status: 499, completed: false })]);
    expect(await proxiedRequests('499')).toBe(before499 + 1);
    expect(await proxiedRequests('404')).toBe(before404);
  });

  it('keeps the status it was sent when it leaves in the middle of the answer', async () => {
    const before = await proxiedRequests('200');
    const req = get(`/api/bytes?n=${100 * 1024 * 1024}&tag=left-midway`);
    const res = await new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
    res.on('error', () => undefined);
    expect(res.statusCode).toBe(200);
    await new Promise<void>((resolve) => res.once('data', () => resolve()));
    req.destroy();
    await waitUntil('the access log line', 15_000, () => accessLinesFor('/api/bytes').length > 0);

    expect(accessLinesFor('/api/bytes')).toEqual([expect.objectContaining({ method: 'GET', status: 200, completed: false })]);
    expect(await proxiedRequests('200')).toBe(before + 1);
  });
});
