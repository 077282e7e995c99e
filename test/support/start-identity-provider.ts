import {
  createDevIdentityProvider,
  type DevClient,
  type DevIdentityProvider,
  type DevIdentityProviderOptions,
} from '../../src/dev/dev-identity-provider.js';

export const TEST_CLIENT_ID = 'bff';
export const TEST_CLIENT_SECRET = 'bff-test-secret';

export interface StartIdentityProviderOptions extends Omit<DevIdentityProviderOptions, 'clients'> {
  /** Redirect URI(s) of the `bff` client, e.g. `${gatewayUrl}/auth/callback`. Can also be set later with `idp.setClient`. */
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  backchannelLogoutUri?: string;
  /** `null` = a public `bff` client (no secret, PKCE only). Default TEST_CLIENT_SECRET. */
  clientSecret?: string | null;
  /** Extra clients besides `bff`. */
  extraClients?: DevClient[];
}

export interface TestIdentityProvider extends DevIdentityProvider {
  /** The `bff` client as registered; pass to the gateway config. */
  client: DevClient;
  /** Re-registers `bff` with other URIs (e.g. once the gateway's port is known). */
  updateClient(change: Partial<Omit<DevClient, 'client_id'>>): Promise<void>;
}

/**
 * The dev identity provider with test defaults: a free port, realm `test`,
 * a confidential client `bff` with TEST_CLIENT_SECRET, user admin / test.
 * `close()` is idempotent, so `afterAll(() => idp.close())` is enough.
 */
export async function startIdentityProvider(options: StartIdentityProviderOptions = {}): Promise<TestIdentityProvider> {
  const { redirectUris, postLogoutRedirectUris, backchannelLogoutUri, clientSecret, extraClients, ...providerOptions } = options;
  const client: DevClient = {
    client_id: TEST_CLIENT_ID,
    client_secret: clientSecret === null ? undefined : (clientSecret ?? TEST_CLIENT_SECRET),
    // A placeholder keeps the client valid until the test knows its redirect URI.
    redirect_uris: redirectUris ?? ['http://127.0.0.1:1/auth/callback'],
    post_logout_redirect_uris: postLogoutRedirectUris,
    backchannel_logout_uri: backchannelLogoutUri,
  };
  const idp = await createDevIdentityProvider({
    port: 0,
    realm: 'test',
    ...providerOptions,
    clients: [client, ...(extraClients ?? [])],
  });
  const started: TestIdentityProvider = Object.assign(idp, {
    client,
    async updateClient(change: Partial<Omit<DevClient, 'client_id'>>) {
      started.client = { ...started.client, ...change };
      await idp.setClient(started.client);
    },
  });
  return started;
}
