import { createHash, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { DpopPrivateJwk } from '../session/session-store.js';

/** The two headers a DPoP-bound token travels with (RFC 9449 §7.1). */
export interface DpopHeaders {
  readonly authorization: string;
  readonly dpop: string;
}

type Headers = Record<string, string | string[]>;

/** What one proxied call needs: its headers, and the answer hook that learns (and retries once with) an upstream's nonce. */
export interface DpopRequest {
  /** The call's other headers with the DPoP pair set on them (kept for a replay). */
  attach(headers: Headers): Headers;
  /** forward-request.ts's `onAnswer`: the headers for the one replay a `use_dpop_nonce` refusal earns, or undefined. */
  readonly onAnswer: (statusCode: number, headers: IncomingHttpHeaders, canReplay: boolean) => Headers | undefined;
}

/** The headers as they are when no DPoP applies (`dpop` undefined), or with the DPoP pair. */
export function withDpop(dpop: DpopRequest | undefined, headers: Headers): Headers {
  return dpop ? dpop.attach(headers) : headers;
}

export interface DpopProofs {
  /**
   * Headers for one call to `origin + path` with the session's key: a fresh
   * proof (new jti, iat now, htu without query or fragment, ath of the token,
   * the upstream's last nonce if it gave one), never reused.
   */
  forRequest(input: { key: DpopPrivateJwk; accessToken: string; method: string; origin: string; path: string }): DpopRequest;
}

/** Origins whose nonce is remembered: routes are configured, so a handful; the bound only guards against surprises. */
const MAX_NONCE_ORIGINS = 1_000;

/**
 * DPoP proofs for proxied calls, signed with node:crypto (ES256 in IEEE P1363
 * form, as JWS wants it) rather than jose: synchronous, and no WebCrypto key
 * import per request. A resource server's nonce (RFC 9449 §9, `DPoP-Nonce`) is
 * remembered per upstream origin and put in later proofs; a bodiless request
 * refused with `use_dpop_nonce` is sent once more with the new nonce.
 */
export function createDpopProofs(deps: { nowMs?: () => number } = {}): DpopProofs {
  // Wall time, never the gateway's injectable clock: the upstream judges iat by its own.
  const nowMs = deps.nowMs ?? Date.now;
  const nonces = new Map<string, string>();

  /** Keeps the answer's nonce for the origin's next proofs; returns it, or undefined when it gave none. */
  const remember = (origin: string, headers: IncomingHttpHeaders): string | undefined => {
    const nonce = headers['dpop-nonce'];
    if (typeof nonce !== 'string' || nonce === '') return undefined;
    if (nonces.get(origin) === nonce) return nonce;
    if (nonces.size >= MAX_NONCE_ORIGINS && !nonces.has(origin)) nonces.clear();
    nonces.set(origin, nonce);
    return nonce;
  };

  return {
    forRequest(input) {
      const { key, accessToken, method, origin } = input;
      const htu = origin + withoutQuery(input.path);
      const ath = createHash('sha256').update(accessToken).digest('base64url');
      const headersWith = (nonce: string | undefined): DpopHeaders => ({
        authorization: `DPoP ${accessToken}`,
        dpop: signProof(key, { htm: method, htu, iat: Math.floor(nowMs() / 1000), jti: randomUUID(), ath, ...(nonce ? { nonce } : {}) }),
      });
      let base: Headers = {};
      // The nonce this call's proof carried: judged against it, not against what another call stored since.
      let sent: string | undefined;
      return {
        attach(headers) {
          base = headers;
          sent = nonces.get(origin);
          return Object.assign(headers, headersWith(sent));
        },
        onAnswer(statusCode, headers, canReplay) {
          const nonce = remember(origin, headers);
          // Retried only with a nonce this call had not sent (calls that left together with the old one each
          // earn their retry): a refusal of the nonce it did send goes to the client as it is.
          if (!canReplay || nonce === undefined || nonce === sent || statusCode !== 401 || !asksForNonce(headers['www-authenticate'])) return undefined;
          return { ...base, ...headersWith(nonce) };
        },
      };
    },
  };
}

interface SigningKey {
  readonly key: KeyObject;
  /** base64url of {"typ":"dpop+jwt","alg":"ES256","jwk":{public}} plus the dot. */
  readonly headerPart: string;
}

// Per key object: records are shared, frozen objects, so the import happens once per session and replica.
const signingKeys = new WeakMap<DpopPrivateJwk, SigningKey>();

function signingKeyOf(jwk: DpopPrivateJwk): SigningKey {
  let found = signingKeys.get(jwk);
  if (found) return found;
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } };
  found = {
    key: createPrivateKey({ key: { ...jwk }, format: 'jwk' }),
    headerPart: `${Buffer.from(JSON.stringify(header)).toString('base64url')}.`,
  };
  signingKeys.set(jwk, found);
  return found;
}

/** A compact JWS over the proof's claims (RFC 9449 §4.2). */
function signProof(jwk: DpopPrivateJwk, claims: Record<string, string | number>): string {
  const { key, headerPart } = signingKeyOf(jwk);
  const signingInput = headerPart + Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${signature.toString('base64url')}`;
}

function withoutQuery(path: string): string {
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

/** `WWW-Authenticate: DPoP error="use_dpop_nonce"` (RFC 9449 §9). */
function asksForNonce(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  return /\bDPoP\b/i.test(text) && /error\s*=\s*"?use_dpop_nonce"?/i.test(text);
}
