import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/load-config.js';

const minimal = { OIDC_ISSUER: 'https://kc.example/realms/demo', OIDC_CLIENT_ID: 'bff' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('starts on the contract defaults with only issuer and client id', () => {
    const config = loadConfig(minimal);
    expect(config.port).toBe(3000);
    expect(config.adminPort).toBe(9090);
    expect(config.publicUrl.href).toBe('http://localhost:3000/');
    expect(config.oidc.redirectUri).toBe('http://localhost:3000/auth/callback');
    expect(config.oidc.postLogoutRedirectUri).toBe('http://localhost:3000/');
    expect(config.oidc.discoveryUrl.href).toBe('https://kc.example/realms/demo/.well-known/openid-configuration');
    expect(config.oidc.scopes).toBe('openid profile email');
    expect(config.oidc.dpop).toBe(false);
    expect(config.session.ttlSeconds).toBe(28800);
    expect(config.session.cookieName).toBe('bff_session');
    expect(config.redis).toBeUndefined();
    expect(config.secureCookies).toBe(false);
    expect(config.warnings.join('\n')).toMatch(/SESSION_SECRET is unset/);
  });

  it('reads OIDC_DPOP as a boolean and names it when it is not one', () => {
    expect(loadConfig({ ...minimal, OIDC_DPOP: 'true' }).oidc.dpop).toBe(true);
    expect(problemsOf({ ...minimal, OIDC_DPOP: 'sometimes' })).toEqual([expect.stringMatching(/^OIDC_DPOP /)]);
  });

  it('reports every bad variable at once, one line each naming it', () => {
    const problems = problemsOf({ PORT: 'abc', SESSION_SECRET: 'short', REDIS_ENABLED: 'maybe', PUBLIC_URL: 'not a url' });
    expect(problems).toEqual(
      expect.arrayContaining([
        'OIDC_ISSUER is required',
        'OIDC_CLIENT_ID is required',
        expect.stringMatching(/^PORT must be a whole number/),
        'SESSION_SECRET must be at least 32 characters',
        expect.stringMatching(/^REDIS_ENABLED must be true or false/),
        expect.stringMatching(/^PUBLIC_URL must be an absolute URL/),
      ]),
    );
  });

  it('refuses production without SESSION_SECRET or with an http provider', () => {
    const problems = problemsOf({ ...minimal, NODE_ENV: 'production', OIDC_ISSUER: 'http://kc/realms/x' });
    expect(problems.some((p) => p.startsWith('SESSION_SECRET is required'))).toBe(true);
    expect(problems.some((p) => p.startsWith('OIDC_ISSUER/OIDC_DISCOVERY_URL use http://'))).toBe(true);
    const allowed = problemsOf({
      ...minimal,
      NODE_ENV: 'production',
      OIDC_ISSUER: 'http://kc/realms/x',
      OIDC_ALLOW_INSECURE_HTTP: 'true',
      SESSION_SECRET: 'x'.repeat(32),
    });
    expect(allowed).toEqual([]);
  });

  it('takes a comma-separated SESSION_SECRET as a rotation list and checks each entry', () => {
    expect(loadConfig({ ...minimal, SESSION_SECRET: `${'a'.repeat(32)},${'b'.repeat(40)}` }).session.secrets).toHaveLength(2);
    expect(problemsOf({ ...minimal, SESSION_SECRET: `${'a'.repeat(32)},short` })).toEqual([
      'SESSION_SECRET must be at least 32 characters (entry 2)',
    ]);
  });

  it('refuses a short ADMIN_TOKEN under production and only warns elsewhere; takes short lifetimes and timeouts', () => {
    const prod = { ...minimal, NODE_ENV: 'production', OIDC_ISSUER: 'https://kc/realms/x', SESSION_SECRET: 'x'.repeat(32) };
    expect(problemsOf({ ...prod, ADMIN_TOKEN: 'short' })).toEqual(['ADMIN_TOKEN must be at least 16 characters when NODE_ENV=production']);
    const dev = loadConfig({ ...minimal, ADMIN_TOKEN: 'short' });
    expect(dev.adminToken).toBe('short');
    expect(dev.warnings.join('\n')).toMatch(/ADMIN_TOKEN is shorter than 16 characters/);
    const quick = loadConfig({ ...minimal, SESSION_TTL_SECONDS: '5', SESSION_IDLE_TIMEOUT_SECONDS: '2', OIDC_TIMEOUT_MS: '50', PROXY_TIMEOUT_MS: '50' });
    expect([quick.session.ttlSeconds, quick.session.idleTimeoutSeconds, quick.oidc.timeoutMs, quick.proxy.timeoutMs]).toEqual([5, 2, 50, 50]);
  });

  it('makes cookies Secure when PUBLIC_URL is https', () => {
    expect(loadConfig({ ...minimal, PUBLIC_URL: 'https://app.example' }).secureCookies).toBe(true);
  });

  it('reads Redis only with REDIS_ENABLED=true and warns about ignored REDIS_* addresses', () => {
    const ignored = loadConfig({ ...minimal, REDIS_URL: 'redis://r:6379/0' });
    expect(ignored.redis).toBeUndefined();
    expect(ignored.warnings.join('\n')).toMatch(/REDIS_ENABLED is not true/);
    const redis = loadConfig({ ...minimal, REDIS_ENABLED: 'true', REDIS_URL: 'rediss://u:p@r:6380/2' }).redis;
    expect(redis?.topology).toEqual({ mode: 'single', url: 'rediss://u:p@r:6380/2' });
    expect(redis?.keyPrefix).toBe('session:');
    expect(redis?.commandTimeoutMs).toBe(1000);
  });

  it('keeps the local session cache on by default; REDIS_SESSION_CACHE=false turns it off, anything else is an error', () => {
    const on = { ...minimal, REDIS_ENABLED: 'true' };
    expect(loadConfig(on).redis?.sessionCache).toBe(true);
    expect(loadConfig({ ...on, REDIS_SESSION_CACHE: 'false' }).redis?.sessionCache).toBe(false);
    expect(problemsOf({ ...on, REDIS_SESSION_CACHE: 'maybe' })).toContain('REDIS_SESSION_CACHE must be true or false (got "maybe")');
  });

  it('refuses Sentinel and Cluster together, braces in the key prefix, and a sentinel without a name', () => {
    const problems = problemsOf({
      ...minimal,
      REDIS_ENABLED: 'true',
      REDIS_SENTINELS: 'a:26379',
      REDIS_CLUSTER_NODES: 'b:7000',
      REDIS_KEY_PREFIX: 'app{x}:',
    });
    expect(problems).toContain('REDIS_SENTINELS and REDIS_CLUSTER_NODES cannot both be set (pick Sentinel or Cluster)');
    expect(problems).toContain('REDIS_KEY_PREFIX must not contain { or }');
    expect(problemsOf({ ...minimal, REDIS_ENABLED: 'true', REDIS_SENTINELS: 'a:26379' })).toContain(
      'REDIS_SENTINEL_NAME is required with REDIS_SENTINELS',
    );
  });

  it('parses PROXY_ROUTES longest prefix first and refuses /, /auth and duplicates', () => {
    const config = loadConfig({ ...minimal, PROXY_ROUTES: '/api=http://api:8080,/api/v2=https://v2.internal/base' });
    expect(config.proxy.routes.map((r) => r.prefix)).toEqual(['/api/v2', '/api']);
    const problems = problemsOf({ ...minimal, PROXY_ROUTES: '/=http://a,/auth=http://b,/x=http://c,/x=http://d,/y=ftp://e' });
    expect(problems).toHaveLength(4);
    expect(problems.every((p) => p.startsWith('PROXY_ROUTES '))).toBe(true);
  });

  it('reads SETTINGS_DEFAULTS_FILE and stops on a file that is not a JSON object', () => {
    const files: Record<string, string> = { '/ok.json': '{"theme":"dark"}', '/bad.json': '[1,2]', '/broken.json': '{' };
    const readFile = (p: string) => files[p] ?? '';
    expect(loadConfig({ ...minimal, SETTINGS_DEFAULTS_FILE: '/ok.json' }, { readFile }).session.settingsDefaults).toEqual({ theme: 'dark' });
    expect(() => loadConfig({ ...minimal, SETTINGS_DEFAULTS_FILE: '/bad.json' }, { readFile })).toThrow(/must hold a JSON object/);
    expect(() => loadConfig({ ...minimal, SETTINGS_DEFAULTS_FILE: '/broken.json' }, { readFile })).toThrow(/cannot be read as JSON/);
  });

  it('stops on a STATIC_DIR that is not a directory', () => {
    const isDirectory = (p: string) => p === '/srv/spa';
    expect(loadConfig({ ...minimal, STATIC_DIR: '/srv/spa' }, { isDirectory }).staticDir).toBe('/srv/spa');
    expect(problemsOf({ ...minimal, STATIC_DIR: '/nowhere/at/all' })).toEqual(['STATIC_DIR /nowhere/at/all is not a directory']);
  });

  it('reads WEBSOCKET_SESSION_CHECK_MS (30 s by default)', () => {
    expect(loadConfig(minimal).proxy.websocketSessionCheckMs).toBe(30_000);
    expect(loadConfig({ ...minimal, WEBSOCKET_SESSION_CHECK_MS: '500' }).proxy.websocketSessionCheckMs).toBe(500);
    expect(problemsOf({ ...minimal, WEBSOCKET_SESSION_CHECK_MS: '5' })).toEqual([expect.stringMatching(/^WEBSOCKET_SESSION_CHECK_MS must be between/)]);
  });

  it('never echoes a secret variable in its error line', () => {
    const problems = problemsOf({ ...minimal, REDIS_ENABLED: 'true', REDIS_URL: 'http://user:s3cretpw@redis:6379' });
    expect(problems.join('\n')).toContain('REDIS_URL must be a redis:// or rediss:// URL (got (value hidden))');
    expect(problems.join('\n')).not.toContain('s3cretpw');
  });

  it('refuses a PUBLIC_URL with a path, a key prefix inside bff:, and an unreadable Redis CA file', () => {
    expect(problemsOf({ ...minimal, PUBLIC_URL: 'https://app.example/bff' })).toEqual([
      'PUBLIC_URL must be an origin without a path (got path "/bff")',
    ]);
    for (const prefix of ['bff', 'b', 'bff:x:']) {
      expect(problemsOf({ ...minimal, REDIS_ENABLED: 'true', REDIS_KEY_PREFIX: prefix }), prefix).toHaveLength(1);
    }
    const readFile = (p: string) => {
      if (p === '/ca.pem') return '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
      throw new Error(`ENOENT: no such file or directory, open '${p}'`);
    };
    expect(loadConfig({ ...minimal, REDIS_ENABLED: 'true', REDIS_TLS_CA_FILE: '/ca.pem' }, { readFile }).redis?.tlsCaFile).toBe('/ca.pem');
    expect(() => loadConfig({ ...minimal, REDIS_ENABLED: 'true', REDIS_TLS_CA_FILE: '/missing.pem' }, { readFile })).toThrow(
      /REDIS_TLS_CA_FILE \/missing.pem cannot be read/,
    );
  });

  it('reads OIDC_CLIENT_AUTH: basic with a secret, none without, post on request; a method and secret that do not go together stop start-up', () => {
    expect(loadConfig({ ...minimal, OIDC_CLIENT_SECRET: 's-3cr3t!' }).oidc.clientAuth).toEqual({ method: 'client_secret_basic', secret: 's-3cr3t!' });
    expect(loadConfig(minimal).oidc.clientAuth).toEqual({ method: 'none' });
    expect(loadConfig({ ...minimal, OIDC_CLIENT_SECRET: 's', OIDC_CLIENT_AUTH: 'client_secret_post' }).oidc.clientAuth).toEqual({
      method: 'client_secret_post',
      secret: 's',
    });
    expect(problemsOf({ ...minimal, OIDC_CLIENT_AUTH: 'client_secret_basic' })).toEqual(['OIDC_CLIENT_AUTH=client_secret_basic needs OIDC_CLIENT_SECRET']);
    expect(problemsOf({ ...minimal, OIDC_CLIENT_AUTH: 'none', OIDC_CLIENT_SECRET: 's' })).toEqual([
      'OIDC_CLIENT_AUTH=none, but OIDC_CLIENT_SECRET is set: unset one of them',
    ]);
    expect(problemsOf({ ...minimal, OIDC_CLIENT_AUTH: 'private_key_jwt_typo' })).toEqual([expect.stringMatching(/^OIDC_CLIENT_AUTH must be one of/)]);
  });

  it('reads OIDC_ROLES_CLAIMS as claim paths, {client_id} standing for the client id as one key', () => {
    expect(loadConfig({ ...minimal, OIDC_CLIENT_ID: 'my.app' }).oidc.rolesClaims).toEqual([
      ['realm_access', 'roles'],
      ['resource_access', 'my.app', 'roles'],
      ['roles'],
    ]);
    expect(loadConfig({ ...minimal, OIDC_ROLES_CLAIMS: 'groups, realm_access.roles' }).oidc.rolesClaims).toEqual([['groups'], ['realm_access', 'roles']]);
    expect(problemsOf({ ...minimal, OIDC_ROLES_CLAIMS: 'groups,a..b' })).toEqual([expect.stringMatching(/^OIDC_ROLES_CLAIMS entry "a..b"/)]);
    // The default names {client_id}: a missing client id is one problem, not a second one about the default.
    expect(problemsOf({ OIDC_ISSUER: minimal.OIDC_ISSUER })).toEqual(['OIDC_CLIENT_ID is required']);
  });

  it('reads PROXY_FORWARD_COOKIES: all by default, none, or cookie names', () => {
    expect(loadConfig(minimal).proxy.forwardCookies).toEqual({ mode: 'all' });
    expect(loadConfig({ ...minimal, PROXY_FORWARD_COOKIES: 'none' }).proxy.forwardCookies).toEqual({ mode: 'none' });
    expect(loadConfig({ ...minimal, PROXY_FORWARD_COOKIES: 'locale, ab' }).proxy.forwardCookies).toEqual({ mode: 'only', names: ['locale', 'ab'] });
    expect(problemsOf({ ...minimal, PROXY_FORWARD_COOKIES: 'a b;c' })).toEqual([expect.stringMatching(/^PROXY_FORWARD_COOKIES must be/)]);
  });
});
