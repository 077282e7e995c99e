import { createHash } from 'node:crypto';
import type { SessionRecord, SessionSummary } from './session-store.js';

/** What an operator may see of a session: never a token, and the id only as a short hash. */
export function toSessionSummary(record: SessionRecord): SessionSummary {
  return {
    id_hash: sessionIdHash(record.id),
    sub: record.sub,
    ...(record.sid !== undefined ? { sid: record.sid } : {}),
    created_at_ms: record.created_at_ms,
    expires_at_ms: record.expires_at_ms,
    ...(record.refreshed_at_ms !== undefined ? { refreshed_at_ms: record.refreshed_at_ms } : {}),
  };
}

/** First 12 hex characters of sha256(id): tells sessions apart in logs and listings, useless as a cookie. */
export function sessionIdHash(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 12);
}
