/**
 * What the provider saw, counted at its own events: every token issuance per
 * grant (one grant = one login = one gateway session), so that "exactly one
 * refresh per expiry" is checked from the provider's side, and every refused
 * refresh with its reason (a reused rotated refresh token among them).
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { DevIdentityProvider } from '../../src/dev/dev-identity-provider.js';

export interface ProviderLedger {
  /** grantId → times (ms) the grant got tokens: the login, then each refresh. */
  readonly issued: Map<string, number[]>;
  /** Refused refresh grants by reason (oidc-provider's error detail). */
  readonly refusedRefreshes: Map<string, number>;
}

export const REUSE_DETAIL = 'refresh token already used';

export function recordProviderGrants(idp: DevIdentityProvider): ProviderLedger {
  const ledger: ProviderLedger = { issued: new Map(), refusedRefreshes: new Map() };
  const grantIdOf = (ctx: KoaContextWithOIDC) =>
    (ctx.oidc.entities.RefreshToken ?? ctx.oidc.entities.AuthorizationCode)?.grantId ?? undefined;
  idp.provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantId = grantIdOf(ctx);
    if (!grantId) return;
    const times = ledger.issued.get(grantId) ?? [];
    times.push(Date.now());
    ledger.issued.set(grantId, times);
  });
  idp.provider.on('grant.error', (ctx: KoaContextWithOIDC, err: Error & { error_detail?: string }) => {
    if (ctx.oidc.params?.['grant_type'] !== 'refresh_token') return;
    const reason = err.error_detail ?? err.message;
    ledger.refusedRefreshes.set(reason, (ledger.refusedRefreshes.get(reason) ?? 0) + 1);
  });
  return ledger;
}

export interface RefreshSummary {
  readonly refreshes: number;
  /** Sessions (grants) refreshed at least once. */
  readonly sessionsRefreshed: number;
  /** Refreshes that came sooner than `minIntervalMs` after the grant's previous tokens: a second refresh for one expiry. */
  readonly early: number;
  /** Most refreshes any session made within one access-token lifetime. */
  readonly maxPerExpiry: number;
  readonly reuseErrors: number;
  readonly refused: number;
}

/**
 * The gateway refreshes once a token expires within its skew, so two
 * issuances of one grant are at least (TTL − skew) apart unless something
 * refreshed twice for the same expiry.
 */
export function summariseRefreshes(ledger: ProviderLedger, accessTtlS: number, skewS: number): RefreshSummary {
  const minIntervalMs = (accessTtlS - skewS) * 1000 - 1000;
  let refreshes = 0;
  let sessionsRefreshed = 0;
  let early = 0;
  let maxPerExpiry = 0;
  for (const times of ledger.issued.values()) {
    if (times.length > 1) sessionsRefreshed++;
    refreshes += times.length - 1;
    for (let i = 1; i < times.length; i++) {
      if (times[i]! - times[i - 1]! < minIntervalMs) early++;
      // Issuances inside one lifetime that started at times[i-1].
      const within = times.slice(i).filter((t) => t - times[i - 1]! < accessTtlS * 1000).length;
      maxPerExpiry = Math.max(maxPerExpiry, within);
    }
  }
  const refused = [...ledger.refusedRefreshes.values()].reduce((a, b) => a + b, 0);
  return { refreshes, sessionsRefreshed, early, maxPerExpiry, reuseErrors: ledger.refusedRefreshes.get(REUSE_DETAIL) ?? 0, refused };
}
