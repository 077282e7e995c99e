/**
 * The session store contract (CONTRACT.md "Session store"). Implemented by
 * memory-store.ts, redis-store.ts and migration-store.ts, and checked for all
 * of them by test/support/session-store-contract.ts.
 *
 * Conventions: times are epoch milliseconds (`...Ms`); "not found" is `null`;
 * a backend failure rejects with StoreError (never a silent "not found").
 */

/** OAuth tokens of one session. Plaintext here; sealed (JWE) at rest by the Redis store. */
export interface SessionTokens {
  readonly access_token: string;
  readonly token_type: string;
  readonly refresh_token?: string;
  readonly id_token?: string;
  readonly scope?: string;
  /** When the access token expires (epoch ms), from expires_in or the JWT's exp. */
  readonly access_expires_at_ms?: number;
}

export interface SessionRecord {
  /** 32 random bytes, base64url. */
  readonly id: string;
  readonly sub: string;
  /** Provider session id (ID token `sid`), for back-channel logout. */
  readonly sid?: string;
  /** ID-token claims overlaid by userinfo, minus protocol claims, plus `roles`. */
  readonly user_info: Readonly<Record<string, unknown>>;
  readonly tokens: SessionTokens;
  readonly created_at_ms: number;
  /** min(created + SESSION_TTL_SECONDS, refresh token's own expiry); see session-lifetime.ts. */
  readonly expires_at_ms: number;
  readonly refreshed_at_ms?: number;
  /** Last authenticated request (idle timeout); only written when an idle timeout is configured. */
  readonly last_seen_at_ms?: number;
  /** Set after a failed refresh, cleared by a successful one: every replica waits before trying again. */
  readonly refresh_backoff?: RefreshBackoff;
  /** ID token `acr` (authentication context class, e.g. Keycloak's LoA "1"/"2"); routes may require one (step-up). */
  readonly acr?: string;
  /** ID token `auth_time` in epoch ms: when the user last actively authenticated (routes may cap its age). */
  readonly auth_time_ms?: number;
  /**
   * The session's DPoP key pair (OIDC_DPOP, RFC 9449), made at login and never
   * changed: the tokens are bound to it. Plaintext here; sealed at rest like the tokens.
   */
  readonly dpop_key?: DpopPrivateJwk;
}

/** An ES256 (P-256) private key as a JWK; the public half is `x`, `y`. */
export interface DpopPrivateJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly d: string;
}

/** The refresh attempts a session has failed in a row, and when the next may be made (epoch ms). */
export interface RefreshBackoff {
  readonly failures: number;
  readonly retry_at_ms: number;
}

/** A summary for operators: never a token. */
export interface SessionSummary {
  /** First 12 hex chars of sha256(id): enough to tell sessions apart, useless to steal one. */
  readonly id_hash: string;
  readonly sub: string;
  readonly sid?: string;
  readonly created_at_ms: number;
  readonly expires_at_ms: number;
  readonly refreshed_at_ms?: number;
}

export interface SessionUpdate {
  readonly tokens?: SessionTokens;
  readonly expires_at_ms?: number;
  readonly refreshed_at_ms?: number;
  readonly last_seen_at_ms?: number;
  /** `undefined` given explicitly clears it. */
  readonly refresh_backoff?: RefreshBackoff | undefined;
  /** From a refreshed ID token that states them; kept otherwise. */
  readonly acr?: string;
  readonly auth_time_ms?: number;
}

/** A held lock; release is idempotent and only deletes the lock if we still own it. */
export interface StoreLock {
  release(): Promise<void>;
}

export interface StoreStatus {
  readonly store: 'memory' | 'redis' | 'migration';
  readonly connected: boolean;
  /** Live session records, counted without scanning. */
  readonly sessions: number;
  readonly key_prefix?: string;
  readonly version?: string;
  readonly used_memory?: string;
  readonly connected_clients?: number;
  readonly [extra: string]: unknown;
}

export interface SessionStore {
  readonly kind: StoreStatus['store'];

  /** Stores a new session and indexes it by sid and sub. */
  create(record: SessionRecord): Promise<void>;
  /**
   * `create`, but only when no session with that id exists (atomically):
   * false when one did. The migration store copies forward with it, so a copy
   * never overwrites a session another replica copied and refreshed meanwhile.
   */
  createIfAbsent(record: SessionRecord): Promise<boolean>;
  /** The live session, or null when unknown or expired. */
  get(id: string): Promise<SessionRecord | null>;
  /**
   * What get(id) would answer right now when this process holds the record in memory (the session cache),
   * without a promise; undefined otherwise (call get). Optional: stores and wrappers without it are read
   * through get, which is always correct.
   */
  peek?(id: string): SessionRecord | undefined;
  /**
   * Applies `update` only if the session still exists; returns the new record
   * or null when it is gone (a refresh finishing after a logout never revives it).
   * The caller computes `expires_at_ms` (see session-lifetime.ts); the store
   * makes the record expire exactly then.
   */
  update(id: string, update: SessionUpdate): Promise<SessionRecord | null>;
  /** Deletes the session, its settings and its index entries; returns the deleted record or null. */
  delete(id: string): Promise<SessionRecord | null>;
  /** Deletes every session with this provider sid; returns the deleted records. */
  deleteBySid(sid: string): Promise<SessionRecord[]>;
  /** Deletes every session of this subject; returns the deleted records. */
  deleteBySub(sub: string): Promise<SessionRecord[]>;
  /** Live sessions of this subject. */
  listBySub(sub: string): Promise<SessionRecord[]>;

  /** Per-session settings, expiring and deleted with the session; null when none stored. */
  getSettings(id: string): Promise<Record<string, unknown> | null>;
  /** Replaces the settings; false when the session no longer exists. */
  putSettings(id: string, settings: Record<string, unknown>): Promise<boolean>;

  /**
   * A value kept for this session only (a token exchanged for a route's
   * audience, sealed by the caller): null when absent, expired, or the
   * session is gone. Lives in the session's hash tag; deleted with the session.
   */
  getSessionValue(sessionId: string, name: string): Promise<string | null>;
  /** Stores it until `expiresAtMs` (never past the session); false when the session no longer exists. */
  putSessionValue(sessionId: string, name: string, value: string, expiresAtMs: number): Promise<boolean>;
  /** A value shared by every replica and no session (the gateway's client-credentials tokens); null when absent or expired. */
  getShared(key: string): Promise<string | null>;
  putShared(key: string, value: string, ttlMs: number): Promise<void>;

  /**
   * Takes this session's (refresh) lock for `ttlMs` (SET NX PX semantics), or
   * returns null if someone else, on any replica, holds it.
   */
  acquireLock(sessionId: string, ttlMs: number): Promise<StoreLock | null>;

  /** Stores a short-lived one-shot value (login transactions). */
  putOnce(key: string, value: string, ttlMs: number): Promise<void>;
  /** Reads and deletes in one step (GETDEL); null when absent, expired or already taken. */
  takeOnce(key: string): Promise<string | null>;
  /** Records `key` unless already recorded (replay marks); true the first time. */
  markOnce(key: string, ttlMs: number): Promise<boolean>;
  /** Takes a mark back (the work it guarded failed and may be retried). */
  clearMark(key: string): Promise<void>;
  /** Increments a fixed-window counter expiring after `windowMs`; returns the new count. */
  increment(key: string, windowMs: number): Promise<number>;

  /** Resolves when the backend answers; rejects with StoreError otherwise. */
  ping(): Promise<void>;
  status(): Promise<StoreStatus>;
  close(): Promise<void>;
}
