import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { finishLogin, startLogin } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const admin = { username: 'admin', password: 'test' };
const JSON_ACCEPT = { accept: 'application/json' };

let idp: TestIdentityProvider;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  idp = await startIdentityProvider();
});
afterEach(() => idp.resetSigningKeys());
afterAll(async () => {
  await Promise.all(gateways.map((gw) => gw.close()));
  await idp?.close();
});

/** A gateway of its own: its key cache starts empty. */
async function freshGateway(): Promise<TestGateway> {
  const gw = await startTestGateway({ idp });
  gateways.push(gw);
  return gw;
}

async function login(gw: TestGateway) {
  const pending = await startLogin(`${gw.publicUrl}/auth/login`, admin);
  const { finalResponse } = await finishLogin(pending, { headers: JSON_ACCEPT });
  return { response: finalResponse, session: pending.jar.get(gw.publicUrl, 'bff_session') };
}

describe('the ID token signature at the callback (over http too)', () => {
  it('is checked against the provider\'s published keys: a key set serving another key under the same kid is refused with 400, no session', async () => {
    const gw = await freshGateway();
    await idp.forgeKeySet();
    const fetchesBefore = idp.counters.jwksFetches;
    const { response, session } = await login(gw);
    expect(response.status).toBe(400);
    expect(await json(response)).toMatchObject({ error: 'invalid_callback' });
    expect(session).toBeUndefined();
    expect(idp.counters.jwksFetches).toBeGreaterThan(fetchesBefore);
    expect(await gw.store.status()).toMatchObject({ sessions: 0 });
  });

  it('follows a key rotation: a new kid refetches the key set once, then the login succeeds', async () => {
    const gw = await freshGateway();
    expect((await login(gw)).response.status).toBe(302);
    const fetchesBefore = idp.counters.jwksFetches;
    await idp.rotateSigningKey();
    const { response, session } = await login(gw);
    expect(response.status).toBe(302);
    expect(session).toBeDefined();
    expect(idp.counters.jwksFetches).toBe(fetchesBefore + 1);
    // Cached from now on: the next login fetches nothing.
    expect((await login(gw)).response.status).toBe(302);
    expect(idp.counters.jwksFetches).toBe(fetchesBefore + 1);
  });

  it('refuses a kid the provider does not publish even after refetching the key set once', async () => {
    const gw = await freshGateway();
    expect((await login(gw)).response.status).toBe(302);
    await idp.rotateSigningKey();
    await idp.forgeKeySet(); // publishes only a stranger's key under the new kid
    const fetchesBefore = idp.counters.jwksFetches;
    const { response, session } = await login(gw);
    expect(response.status).toBe(400);
    expect(session).toBeUndefined();
    expect(idp.counters.jwksFetches).toBe(fetchesBefore + 1);
  });

  it('answers 503 provider_unavailable, not 400, when the key set cannot be fetched, and leaves no session', async () => {
    const gw = await freshGateway();
    idp.setKeySetDown(true);
    const { response, session } = await login(gw);
    expect(response.status).toBe(503);
    expect(await json(response)).toMatchObject({ error: 'provider_unavailable' });
    expect(session).toBeUndefined();
    expect(await gw.store.status()).toMatchObject({ sessions: 0 });
  });
});
