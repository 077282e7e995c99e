import { randomUUID } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type JSONWebKeySet, type JWK } from 'jose';

/**
 * What the dev provider publishes at its JWKS endpoint and signs ID tokens
 * with, changeable at run time so tests can rotate keys or forge the key set
 * (oidc-provider's own keystore is fixed at start-up: ID tokens are re-signed
 * on their way out of the token endpoint instead).
 */
export interface DevSigningKeys {
  /** Answers the JWKS endpoint at `path` when the published set differs from oidc-provider's; `onFetch` counts requests. */
  middleware(path: string, onFetch: () => void): Middleware;
  /** Re-signs the `id_token` of a token endpoint answer when a rotated key is in use. */
  resignIdToken(ctx: Context): Promise<void>;
  /** A new key with a new `kid` signs ID tokens from now on; both old and new are published. Resolves with the new kid. */
  rotate(): Promise<string>;
  /** Publishes another key under the current signing `kid` (a forged key set); ID tokens stay signed as they are. */
  forgeKeySet(): Promise<void>;
  /** While down, the JWKS endpoint answers 503. */
  setDown(down: boolean): void;
  /** Back to oidc-provider's own keys, and up. */
  reset(): void;
}

export function createDevSigningKeys(publicJwks: JSONWebKeySet): DevSigningKeys {
  let signer: JWK | undefined;
  let published: JSONWebKeySet | undefined;
  let down = false;

  return {
    middleware(path, onFetch) {
      return async (ctx: Context, next: Next) => {
        if (ctx.method !== 'GET' || ctx.path !== path) return next();
        onFetch();
        if (down) {
          ctx.status = 503;
          ctx.body = 'key set unavailable (simulated)';
          return;
        }
        if (!published) return next();
        ctx.type = 'application/jwk-set+json';
        ctx.body = published;
      };
    },

    async resignIdToken(ctx) {
      const body = ctx.body as { id_token?: unknown } | undefined;
      if (!signer || ctx.status !== 200 || typeof body?.id_token !== 'string') return;
      const header = decodeProtectedHeader(body.id_token);
      const alg = signer.alg ?? 'RS256';
      const idToken = await new SignJWT(decodeJwt(body.id_token))
        .setProtectedHeader({ ...header, alg, kid: signer.kid! })
        .sign(await importJWK(signer, alg));
      ctx.body = { ...body, id_token: idToken };
    },

    async rotate() {
      signer = await newKey(`rotated-${randomUUID().slice(0, 8)}`);
      published = { keys: [...(published ?? publicJwks).keys, toPublic(signer)] };
      return signer.kid!;
    },

    async forgeKeySet() {
      const kid = signer?.kid ?? publicJwks.keys[0]?.kid;
      published = { keys: [toPublic(await newKey(kid ?? 'forged'))] };
    },

    setDown(isDown) {
      down = isDown;
    },

    reset() {
      signer = undefined;
      published = undefined;
      down = false;
    },
  };
}

async function newKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

function toPublic(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicPart } = jwk;
  return publicPart;
}
