import { readFileSync, statSync } from 'node:fs';
import type { Config, HostPort, RedisConfig, RedisTopology } from './config.js';
import { envSchema, type EnvVarName } from './env-schema.js';
import { parseClientAuth } from './parse-client-auth.js';
import { parseForwardCookies } from './parse-forward-cookies.js';
import { parseProxyRoutes, sortLongestPrefixFirst } from './parse-proxy-routes.js';
import { parseRolesClaims } from './parse-roles-claims.js';
import { readRoutesFile } from './routes-file.js';

/** Thrown by loadConfig with one line per bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

// Announces itself wherever it ends up (logs, a Redis dump): never use it for real.
const DEV_SESSION_SECRET = 'dev-only-insecure-session-secret-change-me!';
const MIN_SECRET_LENGTH = 32;
const MIN_ADMIN_TOKEN_LENGTH = 16;

export interface LoadConfigDeps {
  readFile?: (path: string) => string;
  /** For STATIC_DIR: a missing SPA directory stops start-up instead of 404ing every page. */
  isDirectory?: (path: string) => boolean;
}

/**
 * Turns an environment into a typed Config. Pure apart from reading
 * SETTINGS_DEFAULTS_FILE through `deps.readFile`. Throws ConfigError listing
 * every problem at once.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, deps: LoadConfigDeps = {}): Config {
  const readFile = deps.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const isDirectory = deps.isDirectory ?? ((p: string) => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false);
  const problems: string[] = [];
  const warnings: string[] = [];

  const raw = (name: EnvVarName): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const str = (name: EnvVarName): string => raw(name) ?? ('default' in envSchema[name] ? (envSchema[name] as { default: string }).default : '');
  const int = (name: EnvVarName, opts: { min: number; max?: number }): number => {
    const text = str(name);
    if (!/^\d+$/.test(text)) {
      problems.push(`${name} must be a whole number (got "${text}")`);
      return Number.NaN;
    }
    const n = Number(text);
    if (n < opts.min || (opts.max !== undefined && n > opts.max)) {
      problems.push(`${name} must be between ${opts.min} and ${opts.max ?? 'infinity'} (got ${n})`);
    }
    return n;
  };
  const bool = (name: EnvVarName): boolean => {
    const text = str(name).toLowerCase();
    if (['true', '1', 'yes'].includes(text)) return true;
    if (['false', '0', 'no', ''].includes(text)) return false;
    problems.push(`${name} must be true or false (got "${text}")`);
    return false;
  };
  // Never echo a secret variable's value (a Redis URL carries its password) into the error output.
  const shown = (name: EnvVarName, text: string) =>
    'secret' in envSchema[name] && (envSchema[name] as { secret?: boolean }).secret ? '(value hidden)' : `"${text}"`;
  const url = (name: EnvVarName, text: string, protocols: string[]): URL | undefined => {
    try {
      const u = new URL(text);
      if (!protocols.includes(u.protocol)) {
        problems.push(`${name} must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL (got ${shown(name, text)})`);
        return undefined;
      }
      return u;
    } catch {
      problems.push(`${name} must be an absolute URL (got ${shown(name, text)})`);
      return undefined;
    }
  };

  const nodeEnv = str('NODE_ENV');
  const isProduction = nodeEnv === 'production';

  const port = int('PORT', { min: 0, max: 65535 });
  const adminPort = int('ADMIN_PORT', { min: 0, max: 65535 });
  if (port === adminPort && port !== 0) problems.push(`ADMIN_PORT must differ from PORT (both ${port})`);

  const publicUrl = url('PUBLIC_URL', str('PUBLIC_URL'), ['http:', 'https:']) ?? new URL('http://localhost:3000');
  if (publicUrl.search || publicUrl.hash) problems.push('PUBLIC_URL must not carry a query or fragment');
  // Routes live at /auth/... and the login cookie at Path=/auth/callback: a base path would break both.
  if (publicUrl.pathname !== '/') problems.push(`PUBLIC_URL must be an origin without a path (got path "${publicUrl.pathname}")`);
  const publicBase = publicUrl.href.replace(/\/+$/, '');

  // --- OIDC
  const issuer = raw('OIDC_ISSUER');
  if (!issuer) problems.push('OIDC_ISSUER is required');
  const issuerUrl = issuer ? url('OIDC_ISSUER', issuer, ['http:', 'https:']) : undefined;
  const discoveryText = raw('OIDC_DISCOVERY_URL') ?? (issuer ? `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration` : undefined);
  const discoveryUrl = discoveryText ? url('OIDC_DISCOVERY_URL', discoveryText, ['http:', 'https:']) : undefined;
  const clientId = raw('OIDC_CLIENT_ID');
  if (!clientId) problems.push('OIDC_CLIENT_ID is required');
  const allowInsecureHttp = bool('OIDC_ALLOW_INSECURE_HTTP');
  const httpProvider = issuerUrl?.protocol === 'http:' || discoveryUrl?.protocol === 'http:';
  if (httpProvider) {
    if (isProduction && !allowInsecureHttp) {
      problems.push('OIDC_ISSUER/OIDC_DISCOVERY_URL use http:// under NODE_ENV=production; use https or set OIDC_ALLOW_INSECURE_HTTP=true');
    } else if (!isProduction) {
      warnings.push('the identity provider is reached over plain http://: acceptable for development only');
    }
  }
  const postLogout = raw('OIDC_POST_LOGOUT_REDIRECT_URI') ?? `${publicBase}/`;
  url('OIDC_POST_LOGOUT_REDIRECT_URI', postLogout, ['http:', 'https:']);
  const { clientAuth, problems: clientAuthProblems } = parseClientAuth(
    raw('OIDC_CLIENT_AUTH'),
    raw('OIDC_CLIENT_SECRET'),
    raw('OIDC_CLIENT_PRIVATE_KEY_FILE'),
    readFile,
  );
  problems.push(...clientAuthProblems);
  const par = str('OIDC_PAR').toLowerCase();
  if (par !== 'auto' && par !== 'true' && par !== 'false') problems.push(`OIDC_PAR must be auto, true or false (got "${par}")`);
  const dpop = bool('OIDC_DPOP');
  const { paths: rolesClaims, problems: rolesProblems } = parseRolesClaims(str('OIDC_ROLES_CLAIMS'), clientId ?? '');
  problems.push(...rolesProblems);
  const scopes = str('OIDC_SCOPES').split(/\s+/).filter(Boolean);
  if (!scopes.includes('openid')) problems.push('OIDC_SCOPES must include openid');

  // --- Session
  const secretText = raw('SESSION_SECRET');
  let secrets: string[];
  let usingDevSecret = false;
  if (secretText === undefined) {
    if (isProduction) {
      problems.push('SESSION_SECRET is required when NODE_ENV=production (at least 32 characters)');
    } else {
      warnings.push('SESSION_SECRET is unset: using a published development secret. NEVER run like this in production.');
    }
    secrets = [DEV_SESSION_SECRET];
    usingDevSecret = true;
  } else {
    secrets = secretText.split(',').map((s) => s.trim());
    secrets.forEach((s, i) => {
      if (s.length < MIN_SECRET_LENGTH) {
        const which = secrets.length > 1 ? ` (entry ${i + 1})` : '';
        problems.push(`SESSION_SECRET must be at least ${MIN_SECRET_LENGTH} characters${which}`);
      }
    });
  }
  const ttlSeconds = int('SESSION_TTL_SECONDS', { min: 1, max: 30 * 24 * 3600 });
  const idleTimeoutSeconds = raw('SESSION_IDLE_TIMEOUT_SECONDS') ? int('SESSION_IDLE_TIMEOUT_SECONDS', { min: 1 }) : undefined;
  const cookieName = str('SESSION_COOKIE_NAME');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cookieName)) {
    problems.push('SESSION_COOKIE_NAME must be 1-64 characters of A-Z a-z 0-9 _ -');
  }
  let settingsDefaults: Record<string, unknown> = {};
  const settingsFile = raw('SETTINGS_DEFAULTS_FILE');
  if (settingsFile) {
    try {
      const parsed: unknown = JSON.parse(readFile(settingsFile));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        problems.push(`SETTINGS_DEFAULTS_FILE ${settingsFile} must hold a JSON object`);
      } else {
        settingsDefaults = parsed as Record<string, unknown>;
      }
    } catch (err) {
      problems.push(`SETTINGS_DEFAULTS_FILE ${settingsFile} cannot be read as JSON: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  // --- Redis
  const redisEnabled = bool('REDIS_ENABLED');
  const redisVarsSet = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES', 'REDIS_SECONDARY_URL'] as const).some((n) => raw(n));
  let redis: RedisConfig | undefined;
  if (redisEnabled) redis = loadRedisConfig();
  const redisVarsIgnored = !redisEnabled && redisVarsSet;
  if (redisVarsIgnored) warnings.push('REDIS_* address variables are set but REDIS_ENABLED is not true: sessions are kept in memory');

  function loadRedisConfig(): RedisConfig | undefined {
    const redisUrl = str('REDIS_URL');
    const parsedUrl = url('REDIS_URL', redisUrl, ['redis:', 'rediss:']);
    const keyPrefix = str('REDIS_KEY_PREFIX');
    if (/[{}]/.test(keyPrefix)) problems.push('REDIS_KEY_PREFIX must not contain { or }');
    // Only session records may match `${prefix}*`: the prefix must not cover the bff: namespace, nor sit inside it.
    if (keyPrefix === '' || keyPrefix.startsWith('bff:') || 'bff:'.startsWith(keyPrefix)) {
      problems.push('REDIS_KEY_PREFIX must not be empty, start with bff: or be a prefix of it (the gateway\'s own namespace)');
    }
    const sentinels = raw('REDIS_SENTINELS');
    const clusterNodes = raw('REDIS_CLUSTER_NODES');
    let topology: RedisTopology = { mode: 'single', url: redisUrl };
    if (sentinels && clusterNodes) {
      problems.push('REDIS_SENTINELS and REDIS_CLUSTER_NODES cannot both be set (pick Sentinel or Cluster)');
    } else if (sentinels) {
      const name = raw('REDIS_SENTINEL_NAME');
      if (!name) problems.push('REDIS_SENTINEL_NAME is required with REDIS_SENTINELS');
      const sentinelPassword = raw('REDIS_SENTINEL_PASSWORD');
      topology = {
        mode: 'sentinel',
        sentinels: hostPorts('REDIS_SENTINELS', sentinels),
        name: name ?? '',
        url: redisUrl,
        ...(sentinelPassword ? { sentinelPassword } : {}),
      };
    } else if (clusterNodes) {
      const db = parsedUrl?.pathname.replace(/^\//, '');
      if (db && db !== '0') problems.push('REDIS_URL db index must be 0 in Cluster mode');
      topology = { mode: 'cluster', nodes: hostPorts('REDIS_CLUSTER_NODES', clusterNodes), url: redisUrl };
    }
    const db = parsedUrl?.pathname.replace(/^\//, '');
    if (db && !/^\d+$/.test(db)) problems.push(`REDIS_URL db index must be a number (got "${db}")`);
    const secondaryUrl = raw('REDIS_SECONDARY_URL');
    if (secondaryUrl) url('REDIS_SECONDARY_URL', secondaryUrl, ['redis:', 'rediss:']);
    const fallback = str('REDIS_FALLBACK');
    if (fallback !== 'none' && fallback !== 'memory') problems.push(`REDIS_FALLBACK must be none or memory (got "${fallback}")`);
    const username = raw('REDIS_USERNAME');
    const password = raw('REDIS_PASSWORD');
    const tlsCaFile = raw('REDIS_TLS_CA_FILE');
    if (tlsCaFile !== undefined) {
      try {
        if (!readFile(tlsCaFile).includes('-----BEGIN CERTIFICATE-----')) problems.push(`REDIS_TLS_CA_FILE ${tlsCaFile} holds no PEM certificate`);
      } catch (err) {
        problems.push(`REDIS_TLS_CA_FILE ${tlsCaFile} cannot be read: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    return {
      topology,
      keyPrefix,
      commandTimeoutMs: int('REDIS_COMMAND_TIMEOUT_MS', { min: 50, max: 60_000 }),
      sessionCache: bool('REDIS_SESSION_CACHE'),
      fallback: fallback === 'memory' ? 'memory' : 'none',
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      ...(tlsCaFile ? { tlsCaFile } : {}),
      ...(secondaryUrl ? { secondaryUrl } : {}),
    };
  }

  function hostPorts(name: EnvVarName, text: string): HostPort[] {
    return text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .flatMap((hp) => {
        const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(hp);
        if (!m || Number(m[2]) > 65535) {
          problems.push(`${name} entry "${hp}" must be host:port`);
          return [];
        }
        return [{ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) }];
      });
  }

  // --- Proxy
  const { routes, problems: routeProblems } = parseProxyRoutes(raw('PROXY_ROUTES'));
  for (const p of routeProblems) problems.push(`PROXY_ROUTES ${p}`);
  const routesFile = raw('ROUTES_FILE');
  if (routesFile) {
    const fromFile = readRoutesFile(routesFile, readFile);
    for (const p of fromFile.problems) problems.push(`ROUTES_FILE ${routesFile}: ${p}`);
    for (const route of fromFile.routes) {
      if (routes.some((r) => r.prefix === route.prefix)) problems.push(`ROUTES_FILE ${routesFile}: route "${route.prefix}" field prefix: also in PROXY_ROUTES`);
      else routes.push(route);
    }
    sortLongestPrefixFirst(routes);
    const needsClient = routes.find((r) => r.policy?.token.type === 'client' || r.policy?.token.type === 'exchange');
    const dpopRoute = routes.find((r) => r.policy?.dpop);
    if (dpopRoute && !dpop) problems.push(`ROUTES_FILE ${routesFile}: route "${dpopRoute.prefix}" field dpop: needs OIDC_DPOP=true (sessions hold no DPoP key otherwise)`);
    if (needsClient && clientAuth.method === 'none') {
      problems.push(`ROUTES_FILE ${routesFile}: route "${needsClient.prefix}" field token: ${needsClient.policy?.token.type} needs a confidential client (OIDC_CLIENT_SECRET)`);
    }
  }
  const { forwardCookies, problems: cookieProblems } = parseForwardCookies(str('PROXY_FORWARD_COOKIES'));
  problems.push(...cookieProblems);

  const staticDir = raw('STATIC_DIR');
  if (staticDir !== undefined && !isDirectory(staticDir)) problems.push(`STATIC_DIR ${staticDir} is not a directory`);

  // --- Security / ops
  const adminToken = raw('ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
    // Refused where it matters; a short token on a developer's machine only earns a warning.
    if (isProduction) problems.push(`ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters when NODE_ENV=production`);
    else warnings.push(`ADMIN_TOKEN is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters: easy to guess; NODE_ENV=production refuses it`);
  }
  const logLevel = str('LOG_LEVEL');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "${logLevel}")`);
  }

  const config: Config = {
    nodeEnv,
    isProduction,
    port,
    adminPort,
    publicUrl,
    secureCookies: publicUrl.protocol === 'https:',
    trustProxy: bool('TRUST_PROXY'),
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', { min: 0, max: 600_000 }),
    logLevel,
    oidc: {
      issuer: issuer ?? '',
      discoveryUrl: discoveryUrl ?? new URL('http://invalid/'),
      clientId: clientId ?? '',
      clientAuth,
      par: par === 'true' || par === 'false' ? par : 'auto',
      dpop,
      rolesClaims,
      scopes: scopes.join(' '),
      redirectUri: `${publicBase}/auth/callback`,
      postLogoutRedirectUri: postLogout,
      allowInsecureHttp: allowInsecureHttp || !isProduction,
      timeoutMs: int('OIDC_TIMEOUT_MS', { min: 1, max: 120_000 }),
      refreshSkewSeconds: int('TOKEN_REFRESH_SKEW_SECONDS', { min: 0, max: 3600 }),
    },
    session: {
      secrets,
      usingDevSecret,
      ttlSeconds,
      cookieName,
      settingsDefaults,
      ...(idleTimeoutSeconds !== undefined ? { idleTimeoutSeconds } : {}),
    },
    redisVarsIgnored,
    proxy: {
      routes,
      timeoutMs: int('PROXY_TIMEOUT_MS', { min: 1, max: 600_000 }),
      forwardCookies,
      websocketSessionCheckMs: int('WEBSOCKET_SESSION_CHECK_MS', { min: 100, max: 3_600_000 }),
    },
    loginRateLimitPerMinute: int('LOGIN_RATE_LIMIT_PER_MINUTE', { min: 0, max: 1_000_000 }),
    warnings,
    ...(redis ? { redis } : {}),
    ...(staticDir ? { staticDir } : {}),
    ...(adminToken ? { adminToken } : {}),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
