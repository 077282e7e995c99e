import type { DpopPrivateJwk, SessionRecord, SessionTokens } from './session-store.js';
import type { TokenSealer } from './token-sealer.js';

/** Schema version of the stored record; bump with a reader for the old one. */
const SESSION_RECORD_VERSION = 1;

/**
 * The record as it sits at `${REDIS_KEY_PREFIX}${id}`: readable metadata,
 * tokens only as a JWE (a Redis dump alone leaks no token).
 */
interface StoredSessionRecord {
  v: number;
  sub: string;
  sid?: string;
  user_info: Record<string, unknown>;
  created_at: string;
  expires_at: string;
  refreshed_at?: string;
  last_seen_at?: string;
  refresh_backoff?: { failures: number; retry_at: string };
  acr?: string;
  auth_time?: string;
  tokens: string;
  /** The DPoP private key, sealed on its own: records without one (OIDC_DPOP off, older logins) read as before. */
  dpop_key?: string;
}

/** Serialises records to and from their at-rest JSON, sealing the tokens. */
export interface SessionRecordCodec {
  encode(record: SessionRecord): Promise<string>;
  /** Null for a record we cannot read (unknown version, foreign secret): treated as no session. */
  decode(id: string, json: string): Promise<SessionRecord | null>;
}

export function createSessionRecordCodec(sealer: TokenSealer): SessionRecordCodec {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    async encode(record) {
      const stored: StoredSessionRecord = {
        v: SESSION_RECORD_VERSION,
        sub: record.sub,
        ...(record.sid !== undefined ? { sid: record.sid } : {}),
        user_info: { ...record.user_info },
        created_at: iso(record.created_at_ms),
        expires_at: iso(record.expires_at_ms),
        ...(record.refreshed_at_ms !== undefined ? { refreshed_at: iso(record.refreshed_at_ms) } : {}),
        ...(record.last_seen_at_ms !== undefined ? { last_seen_at: iso(record.last_seen_at_ms) } : {}),
        ...(record.refresh_backoff !== undefined
          ? { refresh_backoff: { failures: record.refresh_backoff.failures, retry_at: iso(record.refresh_backoff.retry_at_ms) } }
          : {}),
        ...(record.acr !== undefined ? { acr: record.acr } : {}),
        ...(record.auth_time_ms !== undefined ? { auth_time: iso(record.auth_time_ms) } : {}),
        tokens: await sealer.seal(JSON.stringify(record.tokens)),
        ...(record.dpop_key !== undefined ? { dpop_key: await sealer.seal(JSON.stringify(record.dpop_key)) } : {}),
      };
      return JSON.stringify(stored);
    },

    async decode(id, json) {
      let stored: StoredSessionRecord;
      let tokens: SessionTokens;
      let dpopKey: DpopPrivateJwk | undefined;
      try {
        stored = JSON.parse(json) as StoredSessionRecord;
        if (stored.v !== SESSION_RECORD_VERSION) return null;
        tokens = JSON.parse(await sealer.open(stored.tokens)) as SessionTokens;
        if (stored.dpop_key !== undefined) dpopKey = JSON.parse(await sealer.open(stored.dpop_key)) as DpopPrivateJwk;
      } catch {
        return null;
      }
      return {
        id,
        sub: stored.sub,
        ...(stored.sid !== undefined ? { sid: stored.sid } : {}),
        user_info: stored.user_info,
        tokens,
        created_at_ms: Date.parse(stored.created_at),
        expires_at_ms: Date.parse(stored.expires_at),
        ...(stored.refreshed_at !== undefined ? { refreshed_at_ms: Date.parse(stored.refreshed_at) } : {}),
        ...(stored.last_seen_at !== undefined ? { last_seen_at_ms: Date.parse(stored.last_seen_at) } : {}),
        ...(stored.refresh_backoff !== undefined
          ? { refresh_backoff: { failures: stored.refresh_backoff.failures, retry_at_ms: Date.parse(stored.refresh_backoff.retry_at) } }
          : {}),
        ...(typeof stored.acr === 'string' ? { acr: stored.acr } : {}),
        ...(stored.auth_time !== undefined ? { auth_time_ms: Date.parse(stored.auth_time) } : {}),
        ...(dpopKey !== undefined ? { dpop_key: dpopKey } : {}),
      };
    },
  };
}
