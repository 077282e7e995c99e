import { describe, expect, it } from 'vitest';
import { loadComposeFile, resolvedEnvironment } from '../../support/deploy-compose.js';
import { readRepoFile } from '../../support/deploy-files.js';

interface RealmClient {
  clientId: string;
  publicClient?: boolean;
  secret?: string;
  standardFlowEnabled?: boolean;
  implicitFlowEnabled?: boolean;
  directAccessGrantsEnabled?: boolean;
  redirectUris?: string[];
  frontchannelLogout?: boolean;
  attributes?: Record<string, string>;
  protocolMappers?: { protocolMapper: string; config: Record<string, string> }[];
}
interface RealmUser {
  username: string;
  enabled?: boolean;
  realmRoles?: string[];
  credentials?: { type: string; value: string; temporary?: boolean }[];
}
interface Realm {
  realm: string;
  enabled: boolean;
  ssoSessionIdleTimeout?: number;
  roles?: { realm?: { name: string }[] };
  clients: RealmClient[];
  users: RealmUser[];
}

const realm = JSON.parse(readRepoFile('deploy/keycloak/realm-demo.json')) as Realm;
const { env } = resolvedEnvironment(loadComposeFile().services.gateway!);
const client = realm.clients.find((c) => c.clientId === env.OIDC_CLIENT_ID);
const publicBase = env.PUBLIC_URL!.replace(/\/+$/, '');

describe('deploy/keycloak/realm-demo.json', () => {
  it('is the realm named in the issuer', () => {
    expect(realm.enabled).toBe(true);
    expect(new URL(env.OIDC_ISSUER!).pathname).toBe(`/realms/${realm.realm}`);
  });

  it('holds the confidential client the gateway uses, with the same secret', () => {
    expect(client).toBeDefined();
    expect(client!.publicClient).toBe(false);
    expect(client!.secret).toBe(env.OIDC_CLIENT_SECRET);
    expect(client!.standardFlowEnabled).toBe(true);
    expect(client!.implicitFlowEnabled).toBe(false);
    expect(client!.directAccessGrantsEnabled).toBe(false);
    expect(client!.attributes?.['pkce.code.challenge.method']).toBe('S256');
  });

  it('allows exactly the redirect URI the gateway builds from PUBLIC_URL', () => {
    expect(client!.redirectUris).toEqual([`${publicBase}/auth/callback`]);
  });

  it('allows the post-logout redirect the gateway sends', () => {
    const expected = env.OIDC_POST_LOGOUT_REDIRECT_URI || `${publicBase}/`;
    expect(client!.attributes?.['post.logout.redirect.uris']?.split('##')).toContain(expected);
  });

  it('calls back-channel logout on the gateway service inside the compose network', () => {
    const url = new URL(client!.attributes?.['backchannel.logout.url'] ?? '');
    expect(url.hostname).toBe('gateway');
    expect(url.port).toBe(env.PORT);
    expect(url.pathname).toBe('/auth/backchannel-logout');
  });

  it('turns front-channel logout off and requires the session (sid) in logout tokens', () => {
    expect(client!.frontchannelLogout).toBe(false);
    expect(client!.attributes?.['backchannel.logout.session.required']).toBe('true');
  });

  it('adds the client to the access token audience', () => {
    const mapper = client!.protocolMappers?.find((m) => m.protocolMapper === 'oidc-audience-mapper');
    expect(mapper?.config['included.client.audience']).toBe(client!.clientId);
    expect(mapper?.config['access.token.claim']).toBe('true');
  });

  it('puts realm roles into the ID token', () => {
    const mapper = client!.protocolMappers?.find((m) => m.protocolMapper === 'oidc-usermodel-realm-role-mapper');
    expect(mapper?.config['id.token.claim']).toBe('true');
    expect(mapper?.config['claim.name']).toBe('realm_access.roles');
  });

  it('has user admin / test with the realm role admin and a non-temporary password', () => {
    expect(realm.roles?.realm?.map((r) => r.name)).toContain('admin');
    const admin = realm.users.find((u) => u.username === 'admin');
    expect(admin?.enabled).toBe(true);
    expect(admin?.realmRoles).toContain('admin');
    expect(admin?.credentials).toContainEqual({ type: 'password', value: 'test', temporary: false });
  });

  it('keeps SSO sessions alive at least as long as gateway sessions', () => {
    expect(realm.ssoSessionIdleTimeout).toBeGreaterThanOrEqual(Number(env.SESSION_TTL_SECONDS));
  });
});
