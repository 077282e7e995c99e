import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import {
  GatewayError,
  InvalidGrantError,
  InvalidProviderResponseError,
  ProviderRejectedClientError,
  RefreshUnavailableError,
  UnauthenticatedError,
} from '../errors.js';
import { refreshGrantTimeoutMs, type OidcClient } from '../oidc/oidc-client.js';
import { authContextOf } from '../oidc/auth-context.js';
import { accessTokenExpiresAtMs } from '../oidc/user-claims.js';
import type { REFRESH_OUTCOMES } from '../ops/metrics.js';
import { sessionExpiresAtMs } from '../session/session-lifetime.js';
import type { RefreshBackoff, SessionRecord, SessionStore, SessionTokens } from '../session/session-store.js';
import { StoreError } from '../session/store-error.js';

export interface TokenRefresher {
  /** True when the access token expires within TOKEN_REFRESH_SKEW_SECONDS. */
  needsRefresh(record: SessionRecord): boolean;
  /**
   * The session with an access token good for at least the skew. Refreshes at
   * most once per session across every replica. Throws UnauthenticatedError
   * when the provider refused the grant (any 400; the session is deleted).
   * When the refresh is unavailable (the provider down or refusing our client
   * credentials, a store hiccup, the session backing off after a failure),
   * the session is kept and returned as it is while its access token has not
   * expired yet; once it has, RefreshUnavailableError.
   * `log` gives the request's logger (carrying its request id) for the
   * refresh's audit lines; requests that join a refresh in flight share the
   * first one's. A function: making a child logger per request costs more than
   * the rest of a proxied request's session handling, and most need no refresh.
   */
  ensureFresh(record: SessionRecord, log?: () => Logger): Promise<SessionRecord>;
}

/**
 * refreshed / reused (someone else's refresh) / invalid_grant (the provider
 * refused the grant: any 400; session ended) / client_rejected (401/403: our
 * client credentials; session kept) / unavailable (transient; session kept) /
 * backoff (not attempted: the session failed a refresh moments ago) /
 * lost_race (the session ended during the refresh).
 */
export type RefreshOutcome = (typeof REFRESH_OUTCOMES)[number];

export interface TokenRefresherDeps {
  config: Config;
  store: SessionStore;
  oidc: Pick<OidcClient, 'refresh'>;
  clock: Clock;
  logger: Logger;
  /** Poll interval of waiters, in milliseconds. */
  pollIntervalMs?: number;
  /** Observes outcomes (metrics). */
  onOutcome?: (outcome: RefreshOutcome) => void;
  /** Observes how long a request waited for someone else's refresh, in seconds. */
  onLockWait?: (seconds: number) => void;
}

/**
 * Refresh with rotating refresh tokens, safe across replicas: an in-process
 * single-flight, then a store lock whose TTL outlasts OIDC_TIMEOUT_MS. The
 * lock holder re-reads the session and refreshes only if still needed
 * ("reload the session in case it was changed underneath us", oauth2-proxy);
 * everyone else polls the session for the new tokens until the lock's TTL.
 *
 * "Still needed" means: the stored access token is still the stale one this
 * flight started from (or has expired outright). A token someone else obtained
 * meanwhile is used even when it, too, expires within the skew: refreshing it
 * again would spend a rotated refresh token for nothing, and a skew longer
 * than the provider's token lifetime would otherwise turn every waiter into
 * one more refresh grant.
 *
 * After a failed attempt the session backs off (1 s, doubling to 30 s): the
 * back-off is written into the session record, which every request reads
 * anyway (shared by the replicas at no extra round trip), and kept in process
 * too, in case that write fails. An outage never becomes a flood of grants.
 */
export function createTokenRefresher(deps: TokenRefresherDeps): TokenRefresher {
  const { config, store, oidc, clock, logger } = deps;
  const skewMs = config.oidc.refreshSkewSeconds * 1000;
  // The lock must outlast everything its holder may do: one provider call plus the store calls around it
  // (a re-read, then up to WRITE_ATTEMPTS updates of up to MAX_UPDATE_ATTEMPTS round trips each). If it lapsed
  // early, another replica would spend the already-rotated refresh token and the provider would end the session.
  const storeCallMs = config.redis?.commandTimeoutMs ?? 0;
  const storeWorkMs = storeCallMs * (2 + WRITE_ATTEMPTS * 2);
  // A grant may run past OIDC_TIMEOUT_MS (refreshGrantTimeoutMs: its answer is stored whenever it comes), and
  // the lock covers it all; a request waits for it no longer than OIDC_TIMEOUT_MS and the store calls.
  const lockTtlMs = refreshGrantTimeoutMs(config.oidc.timeoutMs) + storeWorkMs + 5_000;
  // OIDC_TIMEOUT_MS for the grant plus the lock and the re-read before it: the request's bound, as before.
  const waitMs = config.oidc.timeoutMs + 2 * storeCallMs;
  const pollMs = deps.pollIntervalMs ?? 50;
  const inFlight = new Map<string, Promise<SessionRecord>>();
  /** Back-offs of this process, by session id: the record's may not have been written. */
  const localBackoffs = new Map<string, RefreshBackoff>();
  const outcome = (o: RefreshOutcome) => deps.onOutcome?.(o);

  /** The back-off in force for this session (record's or this process's, the later), or undefined. */
  const backoffOf = (record: SessionRecord): RefreshBackoff | undefined => {
    const local = localBackoffs.get(record.id);
    const stored = record.refresh_backoff;
    if (!local || !stored) return local ?? stored;
    return local.retry_at_ms >= stored.retry_at_ms ? local : stored;
  };
  const inBackoff = (record: SessionRecord) => (backoffOf(record)?.retry_at_ms ?? 0) > clock();

  const needsRefresh = (record: SessionRecord) => {
    const expiresAt = record.tokens.access_expires_at_ms;
    return expiresAt !== undefined && expiresAt - skewMs <= clock();
  };
  const hasExpired = (record: SessionRecord) => (record.tokens.access_expires_at_ms ?? Infinity) <= clock();
  /** Does `current` still need the refresh this flight (started from `staleToken`) is for? */
  const stillStale = (current: SessionRecord, staleToken: string) =>
    needsRefresh(current) && (current.tokens.access_token === staleToken || hasExpired(current));

  async function refreshUnderLock(id: string, staleToken: string, log: Logger): Promise<SessionRecord> {
    const started = clock();
    const deadline = started + waitMs;
    for (let attempt = 0; ; attempt++) {
      const lock = await store.acquireLock(id, lockTtlMs);
      if (lock) {
        // Taken after a wait: the holder may have stored its tokens and let go between our read and this
        // attempt; finding them now is the same wait for another replica's refresh, and is reported as one.
        const waitedSince = attempt > 0 ? started : undefined;
        const held = refreshHeld(id, staleToken, log, waitedSince).finally(() => lock.release().catch(() => undefined)); // it lapses by its TTL anyway
        return answeredWithin(held, waitMs, () => {
          // Never abandoned: with rotating refresh tokens the provider may have spent the old one already.
          log.warn({ event: 'refresh_slow', wait_ms: waitMs }, 'the provider has not answered the refresh yet; answering without it, its tokens will be stored when they come');
          outcome('unavailable');
          return new RefreshUnavailableError(new Error('the provider is slow to answer the refresh'));
        });
      }
      await sleep(pollMs);
      const current = await store.get(id);
      if (!current) throw new UnauthenticatedError();
      if (!stillStale(current, staleToken)) {
        deps.onLockWait?.((clock() - started) / 1000);
        outcome('reused');
        return current;
      }
      // The holder's attempt failed: no point waiting for tokens that will not come.
      if (inBackoff(current)) throw backingOff();
      if (clock() >= deadline) {
        outcome('unavailable');
        throw new RefreshUnavailableError(new Error("another replica's refresh is still under way"));
      }
    }
  }

  async function refreshHeld(id: string, staleToken: string, log: Logger, waitedSince?: number): Promise<SessionRecord> {
    const current = await store.get(id);
    if (!current) throw new UnauthenticatedError();
    if (!stillStale(current, staleToken)) {
      if (waitedSince !== undefined) deps.onLockWait?.((clock() - waitedSince) / 1000);
      outcome('reused');
      return current;
    }
    // Another replica failed a moment ago (its back-off reached us only now).
    if (inBackoff(current)) throw backingOff();
    const refreshToken = current.tokens.refresh_token;
    if (!refreshToken) return expiredWithoutRefreshToken(current);

    let response;
    try {
      // The session's one DPoP key, whichever replica refreshes: the new tokens stay bound to it.
      response = await oidc.refresh(refreshToken, current.dpop_key, current.sub);
    } catch (err) {
      if (err instanceof InvalidGrantError) {
        await store.delete(id);
        localBackoffs.delete(id);
        outcome('invalid_grant');
        log.info(
          { event: 'refresh_failed', sub: current.sub, reason: 'invalid_grant', provider_error: err.providerError },
          'the provider refused the refresh; session ended',
        );
        throw new UnauthenticatedError('The identity provider ended this session; log in again.');
      }
      const backoff = await backOff(current, log);
      if (err instanceof ProviderRejectedClientError) {
        outcome('client_rejected');
        log.error(
          { event: 'refresh_failed', sub: current.sub, reason: 'provider_rejected_client', retry_in_ms: backoff.retry_at_ms - clock(), ...err.logFields() },
          "the provider refused the gateway's client credentials at refresh; session kept",
        );
      } else {
        outcome('unavailable');
        log.warn(
          { event: 'refresh_failed', sub: current.sub, reason: reasonOf(err), detail: detailOf(err), retry_in_ms: backoff.retry_at_ms - clock() },
          'refresh failed; session kept',
        );
      }
      throw new RefreshUnavailableError(err);
    }

    const now = clock();
    const tokens: SessionTokens = {
      access_token: response.access_token,
      token_type: response.token_type,
      // Non-rotating providers return no new refresh or ID token: keep the old ones.
      refresh_token: response.refresh_token ?? refreshToken,
      ...((response.id_token ?? current.tokens.id_token) !== undefined ? { id_token: response.id_token ?? current.tokens.id_token } : {}),
      ...((response.scope ?? current.tokens.scope) !== undefined ? { scope: response.scope ?? current.tokens.scope } : {}),
      ...withExpiry(accessTokenExpiresAtMs({ accessToken: response.access_token, expiresInSeconds: response.expires_in, nowMs: now })),
    };
    // Never past the absolute end; capped by the new refresh token's own lifetime when stated.
    const expiresAtMs = sessionExpiresAtMs({
      createdAtMs: current.created_at_ms,
      ttlSeconds: config.session.ttlSeconds,
      nowMs: now,
      refreshExpiresInSeconds: response.refresh_expires_in,
    });
    // Written only if the session still exists (SET XX): a logout during the refresh wins.
    localBackoffs.delete(id);
    const updated = await writeRefreshed(
      id,
      {
        tokens,
        expires_at_ms: expiresAtMs,
        refreshed_at_ms: now,
        // A refreshed ID token restates acr and auth_time (Keycloak, oidc-provider); without one the login's stay.
        ...authContextOf(response.id_token_claims),
        ...(current.refresh_backoff ? { refresh_backoff: undefined } : {}),
      },
      current.sub,
      log,
    );
    if (!updated) {
      outcome('lost_race');
      log.info({ event: 'refresh_discarded', sub: current.sub }, 'session ended during the refresh; new tokens discarded');
      throw new UnauthenticatedError();
    }
    outcome('refreshed');
    return updated;
  }

  /**
   * With rotation the old refresh token is spent by now: losing this write to
   * a store hiccup would end the session at the next refresh. Retry briefly,
   * well inside the lock's TTL.
   */
  async function writeRefreshed(id: string, update: Parameters<SessionStore['update']>[1], sub: string, log: Logger) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await store.update(id, update);
      } catch (err) {
        if (!(err instanceof StoreError) || attempt >= WRITE_ATTEMPTS) {
          log.error({ event: 'refresh_write_failed', sub, attempts: attempt, detail: detailOf(err) }, 'refreshed tokens could not be stored');
          throw err;
        }
        await sleep(WRITE_RETRY_DELAY_MS);
      }
    }
  }

  /** Records a failed attempt: in this process, and (best effort) in the session record for the other replicas. */
  async function backOff(current: SessionRecord, log: Logger): Promise<RefreshBackoff> {
    const failures = (backoffOf(current)?.failures ?? 0) + 1;
    const delayMs = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(failures - 1, 16));
    const backoff: RefreshBackoff = { failures, retry_at_ms: clock() + delayMs };
    if (localBackoffs.size >= MAX_LOCAL_BACKOFFS) pruneLocalBackoffs();
    localBackoffs.set(current.id, backoff);
    await store.update(current.id, { refresh_backoff: backoff }).catch((err: unknown) => {
      log.debug({ event: 'refresh_backoff_unshared', err: (err as Error).message }, 'refresh back-off kept in this process only');
    });
    return backoff;
  }

  function pruneLocalBackoffs(): void {
    const now = clock();
    for (const [id, backoff] of localBackoffs) if (backoff.retry_at_ms <= now) localBackoffs.delete(id);
    // Still full (a long outage across very many sessions): the records hold the rest.
    if (localBackoffs.size >= MAX_LOCAL_BACKOFFS) localBackoffs.clear();
  }

  function backingOff(): RefreshUnavailableError {
    outcome('backoff');
    return new RefreshUnavailableError(new Error('the last refresh of this session failed moments ago; backing off'));
  }

  async function expiredWithoutRefreshToken(current: SessionRecord): Promise<SessionRecord> {
    // Still valid for a moment: use it. Already expired and nothing to refresh with: the session is over.
    if ((current.tokens.access_expires_at_ms ?? Infinity) > clock()) return current;
    await store.delete(current.id);
    throw new UnauthenticatedError('The access token expired and cannot be refreshed; log in again.');
  }

  return {
    needsRefresh,
    ensureFresh(record, log = () => logger) {
      if (!needsRefresh(record)) return Promise.resolve(record);
      // The current token still works: an unavailable refresh must not turn into an outage.
      const orCurrentToken = (err: unknown): SessionRecord => {
        if (err instanceof RefreshUnavailableError && !hasExpired(record)) return record;
        throw err;
      };
      if (inBackoff(record)) return new Promise((resolve) => resolve(orCurrentToken(backingOff())));
      let pending = inFlight.get(record.id);
      if (!pending) {
        pending = refreshUnderLock(record.id, record.tokens.access_token, log())
          .catch((err: unknown) => {
            // A store hiccup in the middle of a refresh is transient, never "no session".
            if (err instanceof StoreError) {
              outcome('unavailable');
              throw new RefreshUnavailableError(err);
            }
            throw err;
          })
          .finally(() => inFlight.delete(record.id));
        inFlight.set(record.id, pending);
      }
      return pending.catch(orCurrentToken);
    },
  };
}

/**
 * `work`'s outcome, or `late()`'s error once `ms` have passed; `work` goes on
 * either way (a later rejection is handled here, and logged where it arose).
 */
function answeredWithin<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // Real time, not the injectable clock: this is how long a request waits.
    const timer = setTimeout(() => reject(late()), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

const WRITE_ATTEMPTS = 3;
const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
const MAX_LOCAL_BACKOFFS = 10_000;
const WRITE_RETRY_DELAY_MS = 100;

/** What went wrong underneath a gateway error, for the log (never a token: messages and codes only). */
function detailOf(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause as { message?: string; code?: unknown } | undefined;
  const parts = [cause?.message, typeof cause?.code === 'string' ? cause.code : undefined].filter(Boolean);
  return (parts.join(': ') || (err as Error)?.message || 'unknown').replace(/[^\x20-\x7e]/g, '').slice(0, 200);
}

function withExpiry(ms: number | undefined): { access_expires_at_ms?: number } {
  return ms === undefined ? {} : { access_expires_at_ms: ms };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The log's reason for a refresh that failed without ending the session. */
function reasonOf(err: unknown): string {
  // Its code says "invalid_callback", the login's word: at refresh it is the new ID token that failed its checks.
  if (err instanceof InvalidProviderResponseError) return 'invalid_id_token';
  return err instanceof GatewayError ? err.code : 'error';
}
