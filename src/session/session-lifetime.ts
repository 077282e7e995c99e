/**
 * When a session ends: `min(created + absolute TTL, refresh token's own
 * expiry)`. The absolute end never moves; the refresh-token cap is recomputed
 * at each refresh (Keycloak's `refresh_expires_in`; 0 or absent = not stated).
 */
export function sessionExpiresAtMs(input: {
  createdAtMs: number;
  ttlSeconds: number;
  nowMs: number;
  refreshExpiresInSeconds?: number | undefined;
}): number {
  const absoluteEnd = input.createdAtMs + input.ttlSeconds * 1000;
  const stated = input.refreshExpiresInSeconds;
  if (typeof stated !== 'number' || !Number.isFinite(stated) || stated <= 0) return absoluteEnd;
  // Whole milliseconds: a fractional refresh_expires_in must not become a fractional PXAT (Redis refuses it).
  return Math.floor(Math.min(absoluteEnd, input.nowMs + stated * 1000));
}

/**
 * When an idle session ends unless it is used again: a full idle limit after
 * the last recorded activity (the login when none), never past its end.
 */
export function idleExpiresAtMs(
  record: { created_at_ms: number; expires_at_ms: number; last_seen_at_ms?: number | undefined },
  idleTimeoutSeconds: number,
): number {
  const lastSeen = record.last_seen_at_ms ?? record.created_at_ms;
  return Math.min(record.expires_at_ms, lastSeen + idleTimeoutSeconds * 1000);
}
