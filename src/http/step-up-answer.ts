import type { StepUpChallenge, StepUpRequiredError } from '../errors.js';

/** The parts of a 401 step_up_required answer beyond the usual `{error, message}`. */
export interface StepUpAnswer {
  /** RFC 9470 §3: `Bearer error="insufficient_user_authentication", error_description=…, acr_values=…, max_age=…`. */
  readonly wwwAuthenticate: string;
  /** `/auth/login?acr_values=…&max_age=…&returnTo=…`: the SPA navigates the browser there. */
  readonly loginUrl: string;
}

/**
 * How a StepUpRequiredError is told to the browser, for error-middleware.ts
 * and the WebSocket refusal alike. `returnTo` is already checked
 * (return-to.ts). Values are quoted as RFC 9110 §11.2 quoted-strings: acr
 * values never hold `"` or `\` (the routes schema and upstream-step-up.ts
 * refuse them), and the description is ours.
 */
export function stepUpAnswer(err: StepUpRequiredError, returnTo: string): StepUpAnswer {
  const { acrValues, maxAgeSeconds } = err.challenge;
  const params = [`error="insufficient_user_authentication"`, `error_description="${quotable(err.message)}"`];
  if (acrValues?.length) params.push(`acr_values="${acrValues.join(' ')}"`);
  if (maxAgeSeconds !== undefined) params.push(`max_age=${maxAgeSeconds}`);
  return { wwwAuthenticate: `Bearer ${params.join(', ')}`, loginUrl: stepUpLoginUrl(err.challenge, returnTo) };
}

/** `/auth/login` asking the provider for this challenge; the query is percent-encoded (spaces as %20). */
function stepUpLoginUrl(challenge: StepUpChallenge, returnTo: string): string {
  const query: string[] = [];
  if (challenge.acrValues?.length) query.push(`acr_values=${encodeURIComponent(challenge.acrValues.join(' '))}`);
  if (challenge.maxAgeSeconds !== undefined) query.push(`max_age=${challenge.maxAgeSeconds}`);
  query.push(`returnTo=${encodeURIComponent(returnTo)}`);
  return `/auth/login?${query.join('&')}`;
}

function quotable(text: string): string {
  return text.replace(/["\\\u0000-\u001f\u007f-\uffff]/g, '');
}
