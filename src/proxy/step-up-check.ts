import type { RoutePolicy } from '../config/config.js';
import { StepUpRequiredError } from '../errors.js';
import type { SessionRecord } from '../session/session-store.js';

/**
 * The StepUpRequiredError for a session whose authentication does not meet
 * the route's `acr` or `maxAuthAgeSeconds` (RFC 9470). acr values are compared
 * as names, never ordered: a route lists every value strong enough. The
 * challenge repeats the route's acr values even when only the age failed, so
 * the new login (Keycloak re-authenticates at its default level on max_age)
 * cannot come back too weak; max_age is asked for only when the age failed.
 * A session without `acr` or `auth_time` (a provider that sends none) fails
 * the check that needs it.
 */
export function stepUpRefusal(policy: RoutePolicy, session: SessionRecord, nowMs: number): StepUpRequiredError | undefined {
  const { acr, maxAuthAgeSeconds } = policy;
  const acrMet = acr === undefined || (session.acr !== undefined && acr.includes(session.acr));
  const ageMet =
    maxAuthAgeSeconds === undefined || (session.auth_time_ms !== undefined && nowMs - session.auth_time_ms <= maxAuthAgeSeconds * 1000);
  if (acrMet && ageMet) return undefined;
  return new StepUpRequiredError(
    { ...(acr ? { acrValues: acr } : {}), ...(ageMet ? {} : { maxAgeSeconds: maxAuthAgeSeconds }) },
    acrMet ? 'A more recent login is needed for this request; follow login_url.' : 'A stronger login is needed for this request; follow login_url.',
  );
}
