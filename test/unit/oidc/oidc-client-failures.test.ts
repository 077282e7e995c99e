import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { InvalidGrantError, InvalidProviderResponseError, ProviderUnavailableError } from '../../../src/errors.js';
import { createOidcClient, refreshGrantTimeoutMs, type OidcClient } from '../../../src/oidc/oidc-client.js';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  ISSUER,
  PROVIDER_PATHS,
  capturedLogger,
  discoveryDocument,
  eventually,
  idToken,
  provider,
  signingKey,
  type SigningKey,
  useNockedProvider,
} from '../../support/nock-provider.js';

useNockedProvider();

// Generous enough that a loaded machine still discovers in time: a missed first attempt retries only after a minute.
const TIMEOUT_MS = 2000;
let client: OidcClient | undefined;
afterEach(() => client?.close());

function start() {
  const config = loadConfig({ OIDC_ISSUER: ISSUER, OIDC_CLIENT_ID: CLIENT_ID, OIDC_CLIENT_SECRET: CLIENT_SECRET, OIDC_TIMEOUT_MS: String(TIMEOUT_MS) });
  const log = capturedLogger();
  // A retry far in the future: each test sees exactly one discovery attempt.
  client = createOidcClient({ config: config.oidc, logger: log.logger, retry: { initialDelayMs: 60_000, maxDelayMs: 60_000 } });
  return { client, log };
}

async function discovered() {
  provider().get(PROVIDER_PATHS.discovery).reply(200, discoveryDocument());
  const started = start();
  await eventually('discovery', () => started.client.isReady());
  return started;
}

async function failedDiscovery(): Promise<{ client: OidcClient; warning: Record<string, unknown> }> {
  const { client, log } = start();
  const failure = () => log.lines().find((l) => l['msg'] === 'identity provider discovery failed; retrying');
  await eventually('the discovery failure to be logged', () => failure() !== undefined);
  return { client, warning: failure()! };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('discovery failures: the gateway stays unready, logs why, and logins answer 503', () => {
  it.each([
    ['answers 500', () => provider().get(PROVIDER_PATHS.discovery).reply(500, 'oops'), /HTTP 500/],
    ['answers an HTML page', () => provider().get(PROVIDER_PATHS.discovery).reply(200, '<html><body>Login</body></html>', { 'content-type': 'text/html' }), /JSON/],
    ['answers invalid JSON', () => provider().get(PROVIDER_PATHS.discovery).reply(200, '{"issuer": ', { 'content-type': 'application/json' }), /JSON/],
    [
      'names another issuer',
      () => provider().get(PROVIDER_PATHS.discovery).reply(200, discoveryDocument({ issuer: 'https://evil.example.test/realms/app' })),
      /does not equal OIDC_ISSUER/,
    ],
    ['never answers within OIDC_TIMEOUT_MS', () => provider().get(PROVIDER_PATHS.discovery).delay(TIMEOUT_MS * 10).reply(200, discoveryDocument()), /timeout|abort/i],
  ])('%s', async (_name, arrange, logged) => {
    arrange();
    const { client, warning } = await failedDiscovery();
    expect(client.isReady()).toBe(false);
    expect(warning).toMatchObject({ level: 'warn', issuer: ISSUER, attempt: 0, retry_in_ms: 60_000 });
    expect(String(warning['err'])).toMatch(logged);
    const err = await rejection(client.authorizationUrl({ state: 's', nonce: 'n', codeChallenge: 'c' }));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err).toMatchObject({ status: 503, code: 'provider_unavailable' });
  });
});

describe('token endpoint failures (refresh grant)', () => {
  it('5xx is transient: 503 provider_unavailable', async () => {
    const { client } = await discovered();
    provider().post(PROVIDER_PATHS.token).reply(503, { error: 'temporarily_unavailable' });
    expect(await rejection(client.refresh('rt'))).toMatchObject({ status: 503, code: 'provider_unavailable' });
  });

  it('an HTML error page (a proxy in front of the provider) is transient: 503', async () => {
    const { client } = await discovered();
    provider().post(PROVIDER_PATHS.token).reply(502, '<html>Bad Gateway</html>', { 'content-type': 'text/html' });
    expect(await rejection(client.refresh('rt'))).toMatchObject({ status: 503, code: 'provider_unavailable' });
  });

  it('an answer slower than OIDC_TIMEOUT_MS is still taken: a rotating provider has spent the old refresh token by then', async () => {
    // The request waiting for it is answered at OIDC_TIMEOUT_MS by the refresher; the grant itself runs to
    // refreshGrantTimeoutMs (here 30 s), so its late answer is stored instead of lost.
    expect(refreshGrantTimeoutMs(TIMEOUT_MS)).toBe(30_000);
    const { client } = await discovered();
    provider().post(PROVIDER_PATHS.token).delay(TIMEOUT_MS + 1_000).reply(200, { access_token: 'late', token_type: 'Bearer' });
    expect(await client.refresh('rt')).toMatchObject({ access_token: 'late' });
  });

  it('the grant timeout: three times OIDC_TIMEOUT_MS within 30 s to 60 s, never below OIDC_TIMEOUT_MS', () => {
    expect([1_000, 10_000, 15_000, 30_000, 120_000].map(refreshGrantTimeoutMs)).toEqual([30_000, 30_000, 45_000, 60_000, 120_000]);
  });

  it('a 200 without access_token is an invalid provider answer (400 invalid_callback), not tokens and not a dead grant', async () => {
    const { client } = await discovered();
    provider().post(PROVIDER_PATHS.token).reply(200, { token_type: 'Bearer', expires_in: 300 });
    const err = await rejection(client.refresh('rt'));
    expect(err).toMatchObject({ status: 400, code: 'invalid_callback' });
    expect(err).not.toBeInstanceOf(InvalidGrantError);
  });

  it('invalid_grant means the grant is dead: InvalidGrantError (400)', async () => {
    const { client } = await discovered();
    provider().post(PROVIDER_PATHS.token).reply(400, { error: 'invalid_grant', error_description: 'Token is not active' });
    const err = await rejection(client.refresh('rt'));
    expect(err).toBeInstanceOf(InvalidGrantError);
    expect(err).toMatchObject({ status: 400, code: 'invalid_grant' });
  });

  it('invalid_client (401: the gateway own credentials refused) is never taken for a dead grant', async () => {
    const { client } = await discovered();
    provider().post(PROVIDER_PATHS.token).reply(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="app"' });
    const err = await rejection(client.refresh('rt'));
    expect(err).not.toBeInstanceOf(InvalidGrantError);
  });

  it('invalid_client (401) is the operator problem: 502 provider_rejected_client (CONTRACT.md)', async () => {
    const { client } = await discovered();
    provider().post(PROVIDER_PATHS.token).reply(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="app"' });
    expect(await rejection(client.refresh('rt'))).toMatchObject({ status: 502, code: 'provider_rejected_client' });
  });
});

describe('a refreshed ID token is checked like the login one', () => {
  async function refreshAnswering(idTokenFrom: SigningKey, published: SigningKey, claims: Record<string, unknown>) {
    const { client } = await discovered();
    provider()
      .post(PROVIDER_PATHS.token)
      .reply(200, { access_token: 'at-2', token_type: 'Bearer', expires_in: 300, refresh_token: 'rt-2', id_token: await idToken(idTokenFrom, claims) });
    provider().get(PROVIDER_PATHS.jwks).reply(200, { keys: [published.publicJwk] }).persist();
    return client.refresh('rt', undefined, 'alice');
  }

  it('signed by a key the provider does not publish (same kid): refused, and not taken for a dead grant', async () => {
    const [published, forged] = [await signingKey('k1'), await signingKey('k1')];
    const err = await rejection(refreshAnswering(forged, published, { sub: 'alice', acr: '2' }));
    expect(err).toBeInstanceOf(InvalidProviderResponseError);
    expect(String((err as Error).message)).toMatch(/signature/);
    expect(err).not.toBeInstanceOf(InvalidGrantError);
  });

  it("naming another subject than the session's: refused (OpenID Connect Core 12.2)", async () => {
    const key = await signingKey('k1');
    const err = await rejection(refreshAnswering(key, key, { sub: 'mallory', acr: '2' }));
    expect(err).toBeInstanceOf(InvalidProviderResponseError);
    expect(String((err as Error).message)).toMatch(/another subject/);
  });

  it('signed by a published key for the same subject: its claims come through', async () => {
    const key = await signingKey('k1');
    const tokens = await refreshAnswering(key, key, { sub: 'alice', acr: '2' });
    expect(tokens).toMatchObject({ access_token: 'at-2', refresh_token: 'rt-2', id_token_claims: { sub: 'alice', acr: '2' } });
  });
});

describe('revocation and userinfo failures', () => {
  it('a failing revocation endpoint rejects with 503 (logout then carries on without it)', async () => {
    const { client } = await discovered();
    provider().post(PROVIDER_PATHS.revoke).reply(500, 'down');
    expect(await rejection(client.revoke('rt', 'refresh_token'))).toMatchObject({ status: 503, code: 'provider_unavailable' });
  });

  it('a userinfo endpoint answering 500 rejects with 503', async () => {
    const { client } = await discovered();
    provider().get(PROVIDER_PATHS.userinfo).reply(500, 'down');
    expect(await rejection(client.userInfo('at', 'user-1'))).toMatchObject({ status: 503, code: 'provider_unavailable' });
  });

  it('userinfo naming another subject is refused, not merged into the session', async () => {
    const { client } = await discovered();
    provider().get(PROVIDER_PATHS.userinfo).reply(200, { sub: 'someone-else', email: 'x@example.test' });
    const err = await rejection(client.userInfo('at', 'user-1'));
    expect((err as { status: number }).status).toBe(400);
  });
});
