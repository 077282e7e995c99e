import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEV_USERS } from '../../src/dev/dev-users.js';
import { json } from '../support/http.js';
import { loginCookie } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const users = [
  ...DEFAULT_DEV_USERS,
  // Shaped like Glewlwyd's users (its own top-level roles) and LemonLDAP::NG's (groups), without Keycloak's claims.
  { username: 'glewlwyd-user', password: 'pw', roles: ['writer', 'reader'] },
  { username: 'lemon-user', password: 'pw', groups: ['timelords', 'earthlings'] },
];

let idp: TestIdentityProvider;
let keycloakDefaults: TestGateway;
let withGroups: TestGateway;

beforeAll(async () => {
  idp = await startIdentityProvider({ users });
  keycloakDefaults = await startTestGateway({ idp });
  withGroups = await startTestGateway({ idp, env: { OIDC_ROLES_CLAIMS: 'groups,realm_access.roles' } });
});
afterAll(async () => {
  await Promise.all([keycloakDefaults?.close(), withGroups?.close()]);
  await idp?.close();
});

async function rolesOf(gw: TestGateway, username: string): Promise<unknown> {
  const cookie = await loginCookie(gw, { username, password: username === 'admin' ? 'test' : 'pw' });
  const me = await fetch(`${gw.url}/auth/me`, { headers: { cookie, accept: 'application/json' } });
  expect(me.status).toBe(200);
  return (await json(me)).user.roles;
}

describe('/auth/me roles from OIDC_ROLES_CLAIMS', () => {
  it("keeps Keycloak's realm and client roles by default", async () => {
    expect(await rolesOf(keycloakDefaults, 'admin')).toEqual(['admin', 'bff-admin', 'user']);
  });

  it("shows a provider's own top-level roles claim (Glewlwyd) instead of overwriting it with an empty list", async () => {
    expect(await rolesOf(keycloakDefaults, 'glewlwyd-user')).toEqual(['reader', 'writer']);
  });

  it('reads groups when OIDC_ROLES_CLAIMS names them (LemonLDAP::NG, Authelia, Dex, Okta)', async () => {
    expect(await rolesOf(withGroups, 'lemon-user')).toEqual(['earthlings', 'timelords']);
    expect(await rolesOf(keycloakDefaults, 'lemon-user')).toEqual([]);
    expect(await rolesOf(withGroups, 'admin')).toEqual(['admin', 'user']);
  });
});
