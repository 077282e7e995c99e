import type { Duplex } from 'node:stream';
import { writeRawJsonAnswer } from './raw-json-answer.js';

const ANSWERS: Record<string, readonly [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'The request headers are too large.'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'payload_too_large', 'The chunk extensions are too large.'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'The request took too long to arrive.'],
};
const BAD_REQUEST = [400, 'bad_request', 'The request is not valid HTTP/1.1.'] as const;

/**
 * `clientError` listener: Node's HTTP parser refuses some requests before Koa
 * ever sees them (oversized headers, a malformed request line or header).
 * Node would answer with a bare status line; this answers in the contract's
 * JSON error shape instead, with the same status codes Node uses.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // A reset connection, or one whose response is already under way, can only be dropped.
  const response = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || response?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, error, message] = ANSWERS[err.code ?? ''] ?? BAD_REQUEST;
  writeRawJsonAnswer(socket, { status, error, message });
}
