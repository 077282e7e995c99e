import type { SessionTokens } from '../session/session-store.js';

const made = new WeakMap<SessionTokens, string>();

/**
 * `Bearer <access token>`, made once per token set (a refresh brings a new
 * one) and then reused: one string, flattened by undici's first header check.
 * Made per request, the 1.5 KB concatenation was flattened anew each time and
 * V8 promoted it into the old generation, which then filled with dead copies
 * of the token (`npm run bench:alloc`, docs/benchmarks.md). Session records
 * are frozen and shared (the session cache, the decode memo), so their
 * token sets are the keys.
 */
export function bearerAuthorization(tokens: SessionTokens): string {
  let value = made.get(tokens);
  if (value === undefined) {
    value = `Bearer ${tokens.access_token}`;
    made.set(tokens, value);
  }
  return value;
}
