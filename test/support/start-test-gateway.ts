import { Writable } from 'node:stream';
import type { Clock } from '../../src/clock.js';
import type { Config } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load-config.js';
import { startGateway, type RunningGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/ops/logger.js';
import type { SessionStore } from '../../src/session/session-store.js';
import { findFreePort } from './start-redis.js';
import { TEST_SECRET } from './redis-store-harness.js';
import type { TestIdentityProvider } from './start-identity-provider.js';
import { waitFor as pollUntil } from './wait-for.js';

/** What the harness needs of a provider: the dev one, or a real one (test/support/start-lemonldap.ts, start-glewlwyd.ts). */
export type GatewayProvider = Pick<TestIdentityProvider, 'issuer' | 'client' | 'updateClient'>;

export interface TestGateway extends RunningGateway {
  readonly config: Config;
  /** PUBLIC_URL without trailing slash: where browsers reach "the gateway" (replicas may share it). */
  readonly publicUrl: string;
  /** Every JSON log line this instance wrote. */
  readonly logs: string[];
}

export interface StartTestGatewayOptions {
  idp: GatewayProvider;
  /** Listen on this port (e.g. one registered at a provider before it started); default: a free one. */
  port?: number;
  /** Redis URL = REDIS_ENABLED=true; otherwise the memory store. */
  redisUrl?: string;
  /** Share one PUBLIC_URL between replicas; default: this instance's own address. */
  publicUrl?: string;
  env?: Record<string, string>;
  store?: SessionStore;
  /** Wait until the store answers before resolving (default true); false to start against a Redis that is down. */
  waitForStore?: boolean;
  /** Share one adjustable clock between replicas to move time instead of waiting (token expiry). */
  clock?: Clock;
}

/**
 * A whole gateway, in-process, on real loopback listeners, configured through
 * loadConfig like production. Its callback URL is registered at the provider.
 */
export async function startTestGateway(options: StartTestGatewayOptions): Promise<TestGateway> {
  // A free port can be taken between the probe and listen(): pick again then (a port given by the test is kept).
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOnFreePort(options);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || options.port !== undefined || attempt >= 5) throw err;
    }
  }
}

async function startOnFreePort(options: StartTestGatewayOptions): Promise<TestGateway> {
  const port = options.port ?? (await findFreePort());
  const publicUrl = (options.publicUrl ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
  const config = loadConfig({
    PORT: String(port),
    ADMIN_PORT: '0',
    PUBLIC_URL: publicUrl,
    OIDC_ISSUER: options.idp.issuer,
    OIDC_CLIENT_ID: options.idp.client.client_id,
    ...(options.idp.client.client_secret ? { OIDC_CLIENT_SECRET: options.idp.client.client_secret } : {}),
    SESSION_SECRET: TEST_SECRET,
    LOG_LEVEL: 'info',
    LOGIN_RATE_LIMIT_PER_MINUTE: '0',
    ...(options.redisUrl ? { REDIS_ENABLED: 'true', REDIS_URL: options.redisUrl } : {}),
    ...options.env,
  });

  const callback = `${publicUrl}/auth/callback`;
  const postLogout = `${publicUrl}/`;
  const client = options.idp.client;
  await options.idp.updateClient({
    redirect_uris: unique([...client.redirect_uris.filter((u) => !u.startsWith('http://127.0.0.1:1/')), callback]),
    post_logout_redirect_uris: unique([...(client.post_logout_redirect_uris ?? []), postLogout]),
  });

  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: config.logLevel, destination });
  const gateway = await startGateway(config, {
    logger,
    ...(options.store ? { store: options.store } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  await waitFor(() => gateway.oidc.isReady(), 10_000, 'discovery');
  if (options.waitForStore !== false) await waitFor(() => gateway.store.ping().then(() => true, () => false), 10_000, 'store');
  return Object.assign(gateway, { config, publicUrl, logs });
}

function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  return pollUntil(check, { what: `test gateway ${what}`, timeoutMs, intervalMs: 25 });
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
