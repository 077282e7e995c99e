import { randomUUID } from 'node:crypto';

// An incoming id is kept only if it cannot smuggle anything into logs or headers.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The client's X-Request-Id when it is safe to log and echo, a fresh UUID otherwise.
 * Lives below http/, proxy/ and ops/ so that each can use it without importing another.
 */
export function requestIdFrom(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
