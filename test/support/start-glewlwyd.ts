/**
 * A real Glewlwyd 2.7 OpenID provider for integration tests: Debian's daemon
 * on a free loopback port with its own sqlite database (from the packaged
 * init SQL), config file, RSA key and log in a temp dir, then set up through
 * its admin REST API as an operator would: user `roles` and client
 * `post_logout_redirect_uris` properties, scopes, one user with roles
 * ["reader","writer"], the OIDC plugin (RS256, JWT access tokens, PKCE
 * required, one-time-use rotating refresh tokens, revocation, back-channel
 * logout) and one confidential client.
 *
 * Its login page is a single-page app: test/support/glewlwyd-login.ts makes
 * the REST calls that app makes.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { DevClient } from '../../src/dev/dev-identity-provider.js';
import { createBrowser } from './browser-login.js';
import { findCommand, missingCommands, startDaemon, tail, waitUntilAnswering, type Daemon } from './provider-process.js';
import { findFreePort } from './start-redis.js';

const INIT_SQL = '/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz';
const MODULES = '/usr/lib/glewlwyd';
const WEBAPP = '/usr/share/glewlwyd/webapp';
const PLUGIN = 'oidc';
/** The packaged database's administrator. */
const ADMIN = { username: 'admin', password: 'password' } as const;
const SCOPES = ['openid', 'profile', 'email'] as const;
const START_TIMEOUT_MS = 20_000;

export const GLEWLWYD_USER = { username: 'reader1', password: 'reader1-password' } as const;
export const GLEWLWYD_USER_ROLES = ['reader', 'writer'] as const;

/** Why the Glewlwyd tests cannot run here, or undefined when they can. */
export function glewlwydMissing(): string | undefined {
  const missing = missingCommands('glewlwyd', 'sqlite3');
  if (!existsSync(INIT_SQL)) missing.push(INIT_SQL);
  return missing.length ? `not installed: ${missing.join(', ')} (Debian packages glewlwyd, sqlite3)` : undefined;
}

export interface StartGlewlwydOptions {
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** Where Glewlwyd posts logout tokens (the gateway's /auth/backchannel-logout). */
  backchannelLogoutUri?: string;
  /** Access-token (and ID-token) lifetime, default 60 s. */
  accessTokenTtlSeconds?: number;
}

export interface GlewlwydProvider {
  /** `http://127.0.0.1:<port>/api/oidc` */
  readonly issuer: string;
  readonly url: string;
  client: DevClient;
  readonly accessTokenTtlSeconds: number;
  /** Re-registers the client's URIs through the admin API. */
  updateClient(change: Partial<Omit<DevClient, 'client_id'>>): Promise<void>;
  /** Revokes a token at the revocation endpoint, as the client (RFC 7009). */
  revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<void>;
  /** A raw refresh grant as the client: what Glewlwyd answers to a given refresh token. */
  refreshGrant(refreshToken: string): Promise<{ status: number; body: string }>;
  logs(): string;
  /** Stops the daemon by PID and removes the temp dir. Idempotent. */
  close(): Promise<void>;
}

export async function startGlewlwyd(options: StartGlewlwydOptions): Promise<GlewlwydProvider> {
  const missing = glewlwydMissing();
  if (missing) throw new Error(`Glewlwyd ${missing}`);
  const dir = mkdtempSync(join(tmpdir(), 'oidc-bff-glewlwyd-'));
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const issuer = `${url}/api/${PLUGIN}`;
  const accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? 60;
  const client: DevClient = {
    client_id: 'bffclient',
    // Hex: Glewlwyd does not URL-decode Basic credentials.
    client_secret: randomBytes(16).toString('hex'),
    redirect_uris: [...options.redirectUris],
    post_logout_redirect_uris: [...options.postLogoutRedirectUris],
    ...(options.backchannelLogoutUri ? { backchannel_logout_uri: options.backchannelLogoutUri } : {}),
  };

  let daemon: Daemon | undefined;
  const close = async (): Promise<void> => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await createDatabase(join(dir, 'glewlwyd.db'));
    writeFileSync(join(dir, 'glewlwyd.conf'), configFile({ dir, port, url }));
    daemon = startDaemon(findCommand('glewlwyd')!, [`--config-file=${join(dir, 'glewlwyd.conf')}`], { logFile: join(dir, 'stdout.log') });
    const started = daemon;
    await waitUntilAnswering(`Glewlwyd on ${url}`, async () => (await fetch(`${url}/api/auth/scheme/`)).status < 500, {
      timeoutMs: START_TIMEOUT_MS,
      daemons: [started],
    });
    const admin = await adminSession(url);
    await configure(admin, { issuer, client, accessTokenTtlSeconds });
    await waitUntilAnswering(`Glewlwyd's OIDC plugin on ${issuer}`, async () => (await fetch(`${issuer}/.well-known/openid-configuration`)).status === 200, {
      timeoutMs: START_TIMEOUT_MS,
      daemons: [started],
    });
  } catch (err) {
    const logs = readLogs(dir);
    await close();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }

  const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
  let closing: Promise<void> | undefined;
  const provider: GlewlwydProvider = {
    issuer,
    url,
    client,
    accessTokenTtlSeconds,
    async updateClient(change) {
      provider.client = { ...provider.client, ...change };
      const admin = await adminSession(url);
      await admin.call('PUT', `/api/client/${client.client_id}`, clientRecord(provider.client));
    },
    async revoke(token, hint) {
      const response = await fetch(`${issuer}/revoke`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: hint }),
      });
      if (response.status !== 200) throw new Error(`Glewlwyd revocation answered ${response.status}: ${await response.text()}`);
    },
    async refreshGrant(refreshToken) {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
      });
      return { status: response.status, body: await response.text() };
    },
    logs: () => readLogs(dir),
    close: () => (closing ??= close()),
  };
  return provider;
}

// --- set-up ------------------------------------------------------------------

interface AdminSession {
  call(method: string, path: string, body?: unknown): Promise<unknown>;
}

async function adminSession(url: string): Promise<AdminSession> {
  const browser = createBrowser();
  const login = await browser.fetch(`${url}/api/auth/`, jsonRequest('POST', ADMIN));
  if (login.status !== 200) throw new Error(`Glewlwyd admin login answered ${login.status}: ${await login.text()}`);
  await login.body?.cancel();
  return {
    async call(method, path, body) {
      const response = await browser.fetch(`${url}${path}`, body === undefined ? { method } : jsonRequest(method, body));
      const text = await response.text();
      if (response.status !== 200) throw new Error(`Glewlwyd admin API ${method} ${path} answered ${response.status}: ${text}`);
      return text ? (JSON.parse(text) as unknown) : undefined;
    },
  };
}

async function configure(admin: AdminSession, input: { issuer: string; client: DevClient; accessTokenTtlSeconds: number }): Promise<void> {
  // User backend: a multi-valued `roles` property, released as a claim below.
  await extendDataFormat(admin, 'user', { roles: { multiple: true, read: true, write: true, 'profile-read': true, 'profile-write': false } });
  // Client backend: the packaged one declares a single post_logout_redirect_uri; the OIDC plugin reads this array.
  await extendDataFormat(admin, 'client', { post_logout_redirect_uris: { multiple: true, read: true, write: true } });

  for (const scope of SCOPES.filter((s) => s !== 'openid')) {
    await admin.call('POST', '/api/scope/', { name: scope, display_name: scope, description: `${scope} claims`, password_required: true, password_max_age: 0, scheme: {} });
  }
  await admin.call('POST', '/api/user/', {
    username: GLEWLWYD_USER.username,
    password: GLEWLWYD_USER.password,
    name: 'Reader One',
    email: 'reader1@example.test',
    enabled: true,
    // g_profile: the user's own profile API (profile_list), which tells whether Glewlwyd's session is still open.
    scope: [...SCOPES, 'g_profile'],
    roles: [...GLEWLWYD_USER_ROLES],
  });

  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  await admin.call('POST', '/api/mod/plugin/', {
    module: 'oidc',
    name: PLUGIN,
    display_name: 'OpenID Connect',
    enabled: true,
    parameters: {
      iss: input.issuer,
      'jwt-type': 'rsa',
      'jwt-key-size': '256',
      key: privateKey,
      cert: publicKey,
      'access-token-duration': input.accessTokenTtlSeconds,
      'refresh-token-duration': 3600,
      'code-duration': 600,
      'refresh-token-rolling': true,
      // Rotation: every refresh grant returns a new refresh token and retires the old one.
      'refresh-token-one-use': 'always',
      'allow-non-oidc': false,
      'auth-type-code-enabled': true,
      'auth-type-token-enabled': false,
      'auth-type-id-token-enabled': false,
      'auth-type-none-enabled': false,
      'auth-type-password-enabled': false,
      'auth-type-client-enabled': false,
      'auth-type-device-enabled': false,
      'auth-type-refresh-enabled': true,
      'pkce-allowed': true,
      'pkce-required': true,
      'pkce-method-plain-allowed': false,
      'introspection-revocation-allowed': true,
      'introspection-revocation-allow-target-client': true,
      'session-management-allowed': true,
      'session-cookie-name': 'GLEWLWYD2_OIDC_SID',
      'session-cookie-expiration': 3600,
      'back-channel-logout-allowed': true,
      // Its logout page cannot list a session's clients without it (back-channel logout included).
      'front-channel-logout-allowed': true,
      'name-claim': 'mandatory',
      'email-claim': 'mandatory',
      claims: [{ name: 'roles', 'user-property': 'roles', type: 'string', mandatory: true }],
    },
  });
  await admin.call('POST', '/api/client/', clientRecord(input.client));
}

function clientRecord(client: DevClient): Record<string, unknown> {
  return {
    client_id: client.client_id,
    name: 'oidc-bff',
    enabled: true,
    confidential: true,
    client_secret: client.client_secret,
    token_endpoint_auth_method: ['client_secret_basic', 'client_secret_post'],
    authorization_type: ['code', 'refresh_token'],
    redirect_uri: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    ...(client.backchannel_logout_uri
      ? { backchannel_logout_uri: client.backchannel_logout_uri, backchannel_logout_session_required: 'true' }
      : {}),
  };
}

/** Adds properties to a backend module's `data-format`, then resets the module (or the change is not taken). */
async function extendDataFormat(admin: AdminSession, type: 'user' | 'client', properties: Record<string, unknown>): Promise<void> {
  const module = (await admin.call('GET', `/api/mod/${type}/database`)) as { parameters: { 'data-format'?: Record<string, unknown> } };
  module.parameters['data-format'] = { ...module.parameters['data-format'], ...properties };
  await admin.call('PUT', `/api/mod/${type}/database`, module);
  await admin.call('PUT', `/api/mod/${type}/database/reset`);
}

async function createDatabase(file: string): Promise<void> {
  const sqlite = spawn(findCommand('sqlite3')!, [file], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  sqlite.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => sqlite.once('exit', resolve));
  createReadStream(INIT_SQL).pipe(createGunzip()).pipe(sqlite.stdin);
  const code = await exited;
  if (code !== 0) throw new Error(`sqlite3 could not create the Glewlwyd database: ${stderr}`);
}

function configFile(input: { dir: string; port: number; url: string }): string {
  const mime = (extension: string, type: string) => `{ extension = "${extension}" mime_type = "${type}" }`;
  // No use_secure_connection line: writing `use_secure_connection=false` makes 2.7.5 exit.
  return `port=${input.port}
bind_address="127.0.0.1"
external_url="${input.url}"
login_url="login.html"
static_files_path="${WEBAPP}/"
static_files_mime_types = ( ${[mime('.html', 'text/html'), mime('.css', 'text/css'), mime('.js', 'application/javascript'), mime('.json', 'application/json')].join(', ')} )
api_prefix="api"
allow_origin="*"
log_mode="file"
log_level="WARNING"
log_file="${join(input.dir, 'glewlwyd.log')}"
cookie_secure=0
cookie_same_site="empty"
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="${MODULES}/user"
client_module_path="${MODULES}/client"
user_auth_scheme_module_path="${MODULES}/scheme"
plugin_module_path="${MODULES}/plugin"
hash_algorithm="SHA512"
database = { type = "sqlite3" path = "${join(input.dir, 'glewlwyd.db')}" }
`;
}

function jsonRequest(method: string, body: unknown): RequestInit {
  return { method, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) };
}

function readLogs(dir: string): string {
  const read = (file: string) => (existsSync(file) ? tail(readFileSync(file, 'utf8'), 40) : '');
  return `--- glewlwyd log ---\n${read(join(dir, 'glewlwyd.log'))}\n${read(join(dir, 'stdout.log'))}`;
}
