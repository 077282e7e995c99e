import http, { STATUS_CODES, ServerResponse, type IncomingMessage, type RequestListener } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError, StepUpRequiredError, UpstreamTimeoutError, UpstreamUnreachableError } from '../errors.js';
import { writeRawJsonAnswer } from '../http/raw-json-answer.js';
import { stepUpAnswer } from '../http/step-up-answer.js';
import { downstreamResponseHeaders } from './forward-headers.js';

export type UpstreamUpgrade =
  | { readonly kind: 'upgraded'; readonly response: IncomingMessage; readonly socket: Socket; readonly head: Buffer }
  /** The upstream answered without switching protocols (401, 404, ...): passed on as it is. */
  | { readonly kind: 'refused'; readonly response: IncomingMessage };

/**
 * Sends the handshake to the upstream on a connection of its own (an
 * upgraded connection never returns to a keep-alive pool). No answer within
 * `timeoutMs` is 504, no connection 502, as for plain requests; a client that
 * hangs up meanwhile takes the upstream attempt with it.
 */
export function openUpstreamUpgrade(input: {
  target: URL;
  path: string;
  headers: Record<string, string | string[]>;
  timeoutMs: number;
  client: Duplex;
}): Promise<UpstreamUpgrade> {
  const { target } = input;
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request({
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || (target.protocol === 'https:' ? 443 : 80),
      path: input.path,
      method: 'GET',
      // forward-headers dropped the client's hop-by-hop pair; the handshake needs it back.
      headers: { ...input.headers, connection: 'Upgrade', upgrade: 'websocket' },
      agent: false,
    });
    const timer = setTimeout(() => request.destroy(new UpstreamTimeoutError()), input.timeoutMs);
    const clientLeft = () => request.destroy();
    input.client.once('close', clientLeft);
    const settle = () => {
      clearTimeout(timer);
      input.client.off('close', clientLeft);
    };
    request.once('upgrade', (response, socket: Socket, head) => {
      settle();
      resolve({ kind: 'upgraded', response, socket, head });
    });
    request.once('response', (response) => {
      settle();
      resolve({ kind: 'refused', response });
    });
    request.once('error', (err) => {
      settle();
      reject(err instanceof GatewayError ? err : new UpstreamUnreachableError(err));
    });
    request.end();
  });
}

/** The 101 for the browser: the upstream's headers (Sec-WebSocket-Accept, -Protocol, -Extensions, ...) minus gateway cookies. */
export function switchingProtocols(response: IncomingMessage, isGatewayCookie: (name: string) => boolean): string {
  const headers = downstreamResponseHeaders(response.headers, isGatewayCookie);
  return `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${headerLines(headers)}\r\n`;
}

/** Passes a non-101 upstream answer to the browser, body included, and closes the connection after it. */
export function relayUpstreamRefusal(
  client: Duplex,
  response: IncomingMessage,
  isGatewayCookie: (name: string) => boolean,
): void {
  const status = response.statusCode ?? 502;
  const headers = downstreamResponseHeaders(response.headers, isGatewayCookie);
  // The body arrives de-chunked: without Content-Length it is delimited by the close.
  client.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${headerLines(headers)}Connection: close\r\n\r\n`);
  response.pipe(client);
  response.once('error', () => client.destroy());
  // The browser may leave first: free the upstream socket rather than wait for the upstream to end.
  client.once('close', () => response.destroy());
}

/**
 * Answers a refused handshake on the raw socket with the contract's JSON error, then closes it. A step-up
 * refusal carries its challenge and login_url as over HTTP (`returnTo` as error-middleware.ts finds it).
 */
export function refuseUpgrade(client: Duplex, err: GatewayError, requestId?: string, returnTo = '/'): void {
  if (client.destroyed) return;
  const message = err.expose ? err.message : 'Something went wrong on our side; try again shortly.';
  const stepUp = err instanceof StepUpRequiredError ? stepUpAnswer(err, returnTo) : undefined;
  writeRawJsonAnswer(client, {
    status: err.status,
    error: err.code,
    message,
    ...(requestId ? { requestId } : {}),
    ...(stepUp ? { fields: { login_url: stepUp.loginUrl }, headers: { 'WWW-Authenticate': stepUp.wwwAuthenticate } } : {}),
  });
}

function headerLines(headers: Record<string, string | string[]>): string {
  let lines = '';
  for (const [name, value] of Object.entries(headers)) {
    for (const item of Array.isArray(value) ? value : [value]) lines += `${name}: ${item}\r\n`;
  }
  return lines;
}

/**
 * Node hands every request carrying `Connection: Upgrade` to the 'upgrade'
 * listener once there is one, including plain requests that merely offer
 * another protocol (curl's `Upgrade: h2c`). Those get their ordinary answer,
 * as if nobody listened for upgrades, on a connection closed afterwards (the
 * socket has left Node's HTTP parser, so keep-alive cannot resume).
 */
export function answerAsPlainRequest(req: IncomingMessage, client: Duplex, listener: RequestListener): void {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(client as Socket);
  res.once('finish', () => {
    res.detachSocket(client as Socket);
    client.end();
  });
  listener(req, res);
}

