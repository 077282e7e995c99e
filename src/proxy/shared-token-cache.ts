import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { RefreshUnavailableError } from '../errors.js';
import type { StoreLock } from '../session/session-store.js';
import type { TokenSealer } from '../session/token-sealer.js';

/** A token the provider issued, with when it stops working (epoch ms; undefined = not stated). */
export interface IssuedToken {
  readonly accessToken: string;
  readonly expiresAtMs: number | undefined;
}

export interface SharedTokenCacheDeps {
  clock: Clock;
  sealer: TokenSealer;
  /** A token is renewed once it expires within this many ms. */
  skewMs: number;
  /** Must outlast one grant at the provider plus the store calls around it. */
  lockTtlMs: number;
  /** After a failed grant, the key's next attempt waits this long, doubling per failure up to maxBackoffMs (defaults 1 s, 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  pollIntervalMs?: number;
  read(key: string): Promise<string | null>;
  /** Stores the sealed token until `expiresAtMs`; false when there is no longer a place for it (the session ended). */
  write(key: string, sealed: string, expiresAtMs: number): Promise<boolean>;
  lock(key: string, ttlMs: number): Promise<StoreLock | null>;
}

/**
 * Renewal skew and lock TTL of a route-token grant: the refresh's skew, and a
 * lock that outlasts one provider call plus the store calls around it.
 */
export function grantCacheTimings(config: Config): { skewMs: number; lockTtlMs: number } {
  const storeCallMs = config.redis?.commandTimeoutMs ?? 0;
  return { skewMs: config.oidc.refreshSkewSeconds * 1000, lockTtlMs: config.oidc.timeoutMs + storeCallMs * 4 + 5_000 };
}

/**
 * Tokens obtained from the provider on the gateway's own initiative (token
 * exchange, client credentials), kept sealed in the store and renewed with
 * refresh's discipline: reused until `exp − skew`; then an in-process
 * single-flight, then a store lock taken by one replica, which reads again
 * and asks the provider only if still needed, while the others poll the store
 * for its result until the lock's TTL. After a failed grant the key backs
 * off (1 s doubling to 30 s, in this process) and answers the same error
 * meanwhile, so a provider outage is not met with one grant per request.
 */
export function createSharedTokenCache(deps: SharedTokenCacheDeps) {
  const { clock, sealer, skewMs, lockTtlMs } = deps;
  const pollMs = deps.pollIntervalMs ?? 50;
  const inFlight = new Map<string, Promise<string>>();
  const minBackoffMs = deps.minBackoffMs ?? 1_000;
  const maxBackoffMs = deps.maxBackoffMs ?? 30_000;
  const backoff = new Map<string, { untilMs: number; delayMs: number; error: unknown }>();

  const failed = (key: string, error: unknown) => {
    const delayMs = Math.min(maxBackoffMs, (backoff.get(key)?.delayMs ?? minBackoffMs / 2) * 2);
    backoff.delete(key); // re-inserted last: the map stays ordered by failure time
    if (backoff.size >= MAX_BACKOFF_ENTRIES) backoff.delete(backoff.keys().next().value!);
    backoff.set(key, { untilMs: clock() + delayMs, delayMs, error });
  };

  async function readFresh(key: string): Promise<string | null> {
    const sealed = await deps.read(key);
    if (sealed === null) return null;
    let stored: { t?: unknown; exp?: unknown };
    try {
      stored = JSON.parse(await sealer.open(sealed)) as { t?: unknown; exp?: unknown };
    } catch {
      return null; // sealed under a secret no longer configured: obtain a new one
    }
    if (typeof stored.t !== 'string' || typeof stored.exp !== 'number') return null;
    return stored.exp - skewMs > clock() ? stored.t : null;
  }

  async function obtainUnderLock(key: string, obtain: () => Promise<IssuedToken>): Promise<string> {
    const deadline = clock() + lockTtlMs;
    for (;;) {
      const lock = await deps.lock(key, lockTtlMs);
      if (lock) {
        try {
          const fresh = await readFresh(key);
          if (fresh !== null) return fresh;
          const issued = await obtain();
          // A token without a stated lifetime is used once and not kept: nobody knows when to renew it.
          if (issued.expiresAtMs !== undefined) {
            const sealed = await sealer.seal(JSON.stringify({ t: issued.accessToken, exp: issued.expiresAtMs }));
            await deps.write(key, sealed, issued.expiresAtMs);
          }
          return issued.accessToken;
        } finally {
          await lock.release().catch(() => undefined); // it lapses by its TTL anyway
        }
      }
      await sleep(pollMs);
      const fresh = await readFresh(key);
      if (fresh !== null) return fresh;
      if (clock() >= deadline) throw new RefreshUnavailableError(new Error('another replica held the token lock past its TTL'));
    }
  }

  return {
    /** The cached token under `key` while it is good for more than the skew; otherwise `obtain`s one, once across replicas. */
    async get(key: string, obtain: () => Promise<IssuedToken>): Promise<string> {
      const fresh = await readFresh(key);
      if (fresh !== null) return fresh;
      const held = backoff.get(key);
      if (held && held.untilMs > clock()) throw held.error;
      let pending = inFlight.get(key);
      if (!pending) {
        pending = obtainUnderLock(key, obtain)
          .then(
            (token) => {
              backoff.delete(key);
              return token;
            },
            (err: unknown) => {
              failed(key, err);
              throw err;
            },
          )
          .finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return pending;
    },
  };
}

// Keys are per session and audience; a bound keeps sessions that ended mid-outage from piling up.
const MAX_BACKOFF_ENTRIES = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
