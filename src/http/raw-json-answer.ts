import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Writes a complete error answer in the contract's JSON shape straight onto a
 * socket and closes it: for the places no Koa response exists (a request
 * Node's parser refused, a refused WebSocket handshake).
 */
export function writeRawJsonAnswer(
  socket: Duplex,
  answer: {
    status: number;
    error: string;
    message: string;
    requestId?: string;
    /** More members of the JSON body (a step-up answer's login_url). */
    fields?: Readonly<Record<string, string>>;
    /** More header lines, already valid header values (a step-up answer's WWW-Authenticate). */
    headers?: Readonly<Record<string, string>>;
  },
): void {
  const body = JSON.stringify({ error: answer.error, message: answer.message, ...answer.fields });
  const extraHeaders = Object.entries(answer.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Cache-Control: no-store\r\n' +
      'X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n' +
      (answer.requestId ? `X-Request-Id: ${answer.requestId}\r\n` : '') +
      extraHeaders +
      'Connection: close\r\n\r\n' +
      body,
  );
}
