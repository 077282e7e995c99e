import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/** One request as the echo API saw it. */
export interface EchoedRequest {
  method: string;
  /** Raw path as received (not decoded), without the query. */
  path: string;
  query: Record<string, string | string[]>;
  headers: http.IncomingHttpHeaders;
  /** Bytes of request body read so far (all of it once `finished`). */
  body_bytes: number;
  /** The client went away before the response was complete. */
  aborted: boolean;
  /** The response was sent completely. */
  finished: boolean;
  /** A WebSocket upgrade (answered 101, then kept open until close). */
  upgrade: boolean;
}

export interface EchoApi {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The last `keepLast` requests, oldest first; live objects (see `aborted`, `finished`). */
  requests: EchoedRequest[];
  /** The most recent request, if any. */
  lastRequest(): EchoedRequest | undefined;
  clear(): void;
  close(): Promise<void>;
}

export interface EchoApiOptions {
  /** Port on 127.0.0.1; 0 (default) = a free port. */
  port?: number;
  /** How many requests `requests` keeps. Default 100. */
  keepLast?: number;
}

const CHUNK_BYTES = 64 * 1024;
const MAX_SLOW_MS = 60_000;
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'; // RFC 6455 section 1.3

/**
 * An upstream API for proxy tests, on 127.0.0.1. Every request is answered
 * with JSON `{ method, path, query, headers, body_bytes }` (request bodies are
 * counted while streaming, never buffered). Special paths:
 * - `/slow?ms=N`: answers after N ms (headers included), or not at all if the client leaves;
 * - `/status/NNN`: answers with that status (and the echo as body);
 * - `/bytes?n=N`: streams N bytes of `application/octet-stream`;
 * - `/upload`: the echo, named for tests that stream large bodies in;
 * - `/set-cookie?name=value&...`: one Set-Cookie per query parameter;
 * - `/step-up?acr_values=…&max_age=…`: 401 with an RFC 9470 `insufficient_user_authentication` challenge;
 * - a WebSocket upgrade is answered 101 and recorded (no frames exchanged).
 */
export async function createEchoApi(options: EchoApiOptions = {}): Promise<EchoApi> {
  const keepLast = options.keepLast ?? 100;
  const requests: EchoedRequest[] = [];
  const sockets = new Set<Duplex>();

  function record(req: http.IncomingMessage, upgrade: boolean): EchoedRequest {
    const url = new URL(req.url ?? '/', 'http://echo.invalid');
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    const entry: EchoedRequest = {
      method: req.method ?? 'GET',
      path: rawPath,
      query: toQueryObject(url.searchParams),
      headers: req.headers,
      body_bytes: 0,
      aborted: false,
      finished: false,
      upgrade,
    };
    requests.push(entry);
    if (requests.length > keepLast) requests.splice(0, requests.length - keepLast);
    return entry;
  }

  const server = http.createServer((req, res) => {
    const entry = record(req, false);
    res.on('close', () => {
      if (!res.writableFinished) entry.aborted = true;
    });
    res.on('finish', () => {
      entry.finished = true;
    });
    req.on('data', (chunk: Buffer) => {
      entry.body_bytes += chunk.length;
    });
    req.on('error', () => {
      entry.aborted = true;
    });
    req.on('end', () => respond(req, res, entry));
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    const entry = record(req, true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    entry.finished = true;
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    lastRequest: () => requests[requests.length - 1],
    clear: () => {
      requests.length = 0;
    },
    close() {
      closed ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}

function respond(req: http.IncomingMessage, res: http.ServerResponse, entry: EchoedRequest): void {
  const echo = {
    method: entry.method,
    path: entry.path,
    query: entry.query,
    headers: entry.headers,
    body_bytes: entry.body_bytes,
  };
  const url = new URL(req.url ?? '/', 'http://echo.invalid');

  if (url.pathname === '/slow') {
    const ms = Math.min(MAX_SLOW_MS, Math.max(0, Number(url.searchParams.get('ms') ?? 1000) || 0));
    const timer = setTimeout(() => sendJson(res, 200, echo), ms);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  const status = /^\/status\/(\d{3})$/.exec(url.pathname)?.[1];
  if (status) {
    sendJson(res, Number(status), echo);
    return;
  }
  if (url.pathname === '/bytes') {
    streamBytes(res, Math.max(0, Math.floor(Number(url.searchParams.get('n') ?? 0) || 0)));
    return;
  }
  if (url.pathname === '/step-up') {
    // An API that wants a stronger login than the token shows (RFC 9470 §3).
    const params = [`error="insufficient_user_authentication"`, `error_description="A stronger authentication is required"`];
    const acrValues = url.searchParams.get('acr_values');
    const maxAge = url.searchParams.get('max_age');
    if (acrValues) params.push(`acr_values="${acrValues.replace(/["\\]/g, '')}"`);
    if (maxAge) params.push(`max_age=${maxAge.replace(/\D/g, '')}`);
    res.setHeader('www-authenticate', `Bearer ${params.join(', ')}`);
    sendJson(res, 401, { ...echo, note: 'the upstream asked for a step-up' });
    return;
  }
  if (url.pathname === '/set-cookie') {
    res.setHeader('set-cookie', [...url.searchParams].map(([name, value]) => `${name}=${value}; Path=/`));
  }
  sendJson(res, 200, echo);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (status === 204 || status === 304 || status < 200) {
    res.writeHead(status).end();
    return;
  }
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

/** Writes `total` bytes in chunks, waiting for `drain` so nothing piles up in memory. */
function streamBytes(res: http.ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x61);
  let remaining = total;
  const pump = (): void => {
    while (remaining > 0) {
      const size = Math.min(remaining, CHUNK_BYTES);
      remaining -= size;
      if (!res.write(size === CHUNK_BYTES ? chunk : chunk.subarray(0, size))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('close', () => {
    remaining = 0;
  });
  pump();
}

function toQueryObject(params: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of params) {
    const existing = query[name];
    if (existing === undefined) query[name] = value;
    else query[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return query;
}
