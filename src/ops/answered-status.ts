import type { ServerResponse } from 'node:http';

/**
 * nginx's "client closed request": the connection closed before any answer
 * was sent (the client gave up waiting, e.g. on a slow upstream). Logged and
 * counted under this status so it is never mistaken for an answer.
 */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * The status to record for a response once it is closed: the one sent, or
 * 499 when no head was ever written. Until a head is written `statusCode`
 * holds whatever was set last (Koa's default 404 on a proxied request whose
 * answer never came), which nobody received.
 */
export function answeredStatus(res: ServerResponse): number {
  return res.headersSent ? res.statusCode : CLIENT_CLOSED_REQUEST;
}
