/**
 * What step-up (RFC 9470) adds per request, in ns per call, single-threaded:
 * the upstream-challenge test every proxied answer goes through, and a step-up
 * route's acr / auth-age check. `npx tsx bench/step-up-checks.ts`
 */
import type { RoutePolicy } from '../src/config/config.js';
import { stepUpRefusal } from '../src/proxy/step-up-check.js';
import { upstreamStepUp } from '../src/proxy/upstream-step-up.js';
import type { SessionRecord } from '../src/session/session-store.js';

const CALLS = 2_000_000;

function measure(name: string, fn: () => unknown): void {
  for (let i = 0; i < 100_000; i += 1) fn(); // warm-up: let the JIT settle
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i += 1) fn();
  console.log(`${name}: ${(Number(process.hrtime.bigint() - started) / CALLS).toFixed(1)} ns/call`);
}

const policy: RoutePolicy = {
  auth: 'required',
  token: { type: 'user' },
  csrf: true,
  websocket: true,
  stripPrefix: true,
  dpop: false,
  userHeaders: [],
  defaultAccess: false,
  acr: ['2', '3'],
  maxAuthAgeSeconds: 900,
};
const session: SessionRecord = {
  id: 'id',
  sub: 'sub',
  user_info: {},
  tokens: { access_token: 'at', token_type: 'Bearer' },
  created_at_ms: 0,
  expires_at_ms: Number.MAX_SAFE_INTEGER,
  acr: '2',
  auth_time_ms: Date.now(),
};

measure('upstream answer 200 (every proxied answer)', () => upstreamStepUp(200, { 'content-type': 'application/json' }));
measure('upstream answer 401 invalid_token', () => upstreamStepUp(401, { 'www-authenticate': 'Bearer error="invalid_token"' }));
measure('upstream answer 401 insufficient_user_authentication (parsed, answered by the gateway)', () =>
  upstreamStepUp(401, { 'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="2 3", max_age=30' }),
);
measure('step-up route check, passing', () => stepUpRefusal(policy, session, Date.now()));
