import { describe, expect, it } from 'vitest';
import type { RoutePolicy } from '../../../src/config/config.js';
import { StepUpRequiredError } from '../../../src/errors.js';
import { returnToFromReferer } from '../../../src/http/return-to.js';
import { stepUpAnswer } from '../../../src/http/step-up-answer.js';
import { stepUpRefusal } from '../../../src/proxy/step-up-check.js';
import { upstreamStepUp } from '../../../src/proxy/upstream-step-up.js';
import type { SessionRecord } from '../../../src/session/session-store.js';

const policy = (extra: Partial<RoutePolicy>): RoutePolicy => ({
  auth: 'required',
  token: { type: 'user' },
  csrf: true,
  websocket: true,
  stripPrefix: true,
  dpop: false,
  userHeaders: [],
  defaultAccess: false,
  ...extra,
});

const session = (extra: Partial<SessionRecord>): SessionRecord => ({
  id: 'id',
  sub: 'sub',
  user_info: {},
  tokens: { access_token: 'at', token_type: 'Bearer' },
  created_at_ms: 0,
  expires_at_ms: Number.MAX_SAFE_INTEGER,
  ...extra,
});

function challengeOf(refusal: StepUpRequiredError | undefined): StepUpRequiredError {
  if (refusal === undefined) throw new Error('no step-up required');
  return refusal;
}

describe('stepUpRefusal', () => {
  const now = 1_000_000_000_000;

  it('lets any one of the listed acr values through, compared as names', () => {
    expect(stepUpRefusal(policy({ acr: ['2', 'gold'] }), session({ acr: 'gold' }), now)).toBeUndefined();
    const err = challengeOf(stepUpRefusal(policy({ acr: ['2', 'gold'] }), session({ acr: '1' }), now));
    expect(err.challenge).toEqual({ acrValues: ['2', 'gold'] });
    expect(challengeOf(stepUpRefusal(policy({ acr: ['2'] }), session({}), now)).challenge).toEqual({ acrValues: ['2'] });
  });

  it('asks for max_age only when the login is too old, and repeats the route acr values then', () => {
    const route = policy({ acr: ['2'], maxAuthAgeSeconds: 60 });
    expect(stepUpRefusal(route, session({ acr: '2', auth_time_ms: now - 60_000 }), now)).toBeUndefined();
    expect(challengeOf(stepUpRefusal(route, session({ acr: '2', auth_time_ms: now - 61_000 }), now)).challenge).toEqual({
      acrValues: ['2'],
      maxAgeSeconds: 60,
    });
    expect(challengeOf(stepUpRefusal(policy({ maxAuthAgeSeconds: 60 }), session({}), now)).challenge).toEqual({ maxAgeSeconds: 60 });
  });
});

describe('stepUpAnswer', () => {
  it('renders the RFC 9470 challenge and a login_url with percent-encoded values', () => {
    const answer = stepUpAnswer(new StepUpRequiredError({ acrValues: ['2', 'gold'], maxAgeSeconds: 30 }, 'Needs "more".'), '/pay?x=1');
    expect(answer.wwwAuthenticate).toBe(
      'Bearer error="insufficient_user_authentication", error_description="Needs more.", acr_values="2 gold", max_age=30',
    );
    expect(answer.loginUrl).toBe('/auth/login?acr_values=2%20gold&max_age=30&returnTo=%2Fpay%3Fx%3D1');
  });
});

describe('returnToFromReferer', () => {
  it('takes the path and query of a same-origin page, / for anything else', () => {
    expect(returnToFromReferer('https://app.example/orders/7?tab=2', 'https://app.example')).toBe('/orders/7?tab=2');
    expect(returnToFromReferer('https://evil.example/orders', 'https://app.example')).toBe('/');
    expect(returnToFromReferer(undefined, 'https://app.example')).toBe('/');
    expect(returnToFromReferer('not a url', 'https://app.example')).toBe('/');
    expect(returnToFromReferer('https://app.example/%5Cevil.example', 'https://app.example')).toBe('/');
  });
});

describe('upstreamStepUp', () => {
  it("reads an upstream's insufficient_user_authentication challenge, among others", () => {
    const err = upstreamStepUp(401, {
      'www-authenticate': 'DPoP algs="ES256", Bearer realm="api", error="insufficient_user_authentication", error_description="step, up", acr_values="2 gold", max_age=30',
    });
    expect(err?.challenge).toEqual({ acrValues: ['2', 'gold'], maxAgeSeconds: 30 });
    expect(upstreamStepUp(401, { 'www-authenticate': ['Basic realm="x"', 'bearer error="insufficient_user_authentication"'] })?.challenge).toEqual({});
  });

  it('leaves every other answer alone', () => {
    const challenge = 'Bearer error="insufficient_user_authentication", acr_values="2"';
    expect(upstreamStepUp(403, { 'www-authenticate': challenge })).toBeUndefined();
    expect(upstreamStepUp(401, {})).toBeUndefined();
    expect(upstreamStepUp(401, { 'www-authenticate': 'Bearer error="invalid_token"' })).toBeUndefined();
    expect(upstreamStepUp(401, { 'www-authenticate': 'Basic error="insufficient_user_authentication"' })).toBeUndefined();
    expect(upstreamStepUp(401, { 'www-authenticate': 'Bearer abc==' })).toBeUndefined();
  });

  it('drops values it could not repeat safely', () => {
    const err = upstreamStepUp(401, {
      'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="2 \\"x 2", max_age=-5',
    });
    expect(err?.challenge).toEqual({ acrValues: ['2'] });
  });
});
