/**
 * The one proxy a profiling tool looks at (bench:alloc, bench:instructions):
 * the gateway as the bench's main row runs it (Redis, a session logged in
 * through the provider, cache on), or the bench's baseline, each in front of
 * the bench's JSON upstream. Returns what a client sends to reach the API.
 */
import { loginThroughProvider } from '../test/support/browser-login.js';
import { startIdentityProvider } from '../test/support/start-identity-provider.js';
import { startRedis } from '../test/support/start-redis.js';
import { onStop } from './child-processes.js';
import { benchGatewayEnv, startGatewayProcess } from './gateway-process.js';
import { startServerProcess } from './node-server-process.js';
import { routesFile } from './routes-file.js';
import { copySharedBaseline, startSharedBaseline } from './shared-baseline.js';

export const PROFILE_PATH = '/api/items/42';

export interface ProfileTargetOptions {
  target: 'gateway' | 'bare';
  /** Node flags after the container's. */
  nodeArgs: readonly string[];
  logLevel: string;
  /** A command the proxy runs under (valgrind's); default none. */
  launcher?: readonly string[];
  /** Another build's dist/main.js for the gateway; default this checkout's. */
  main?: string | undefined;
  /** Start-up allowance for the proxy (a launcher slows it down). */
  readyTimeoutMs?: number;
  /** Gateway settings over the defaults here, e.g. REDIS_SESSION_CACHE=false. */
  env?: Record<string, string>;
  /** Policy lines (indented YAML) for the gateway's /api route, which then comes from a ROUTES_FILE. */
  routePolicy?: readonly string[] | undefined;
}

export interface ProfileTarget {
  readonly pid: number;
  readonly url: string;
  readonly headers: Record<string, string>;
}

export async function startProfileTarget(options: ProfileTargetOptions): Promise<ProfileTarget> {
  const upstream = await startServerProcess('./json-upstream.ts', {}, undefined);
  const { launcher, readyTimeoutMs } = options;
  if (options.target === 'bare') {
    copySharedBaseline();
    const bare = await startSharedBaseline(upstream.url, undefined, options.nodeArgs, { ...(launcher ? { launcher } : {}), ...(readyTimeoutMs ? { readyTimeoutMs } : {}) });
    return { pid: bare.pid, url: `${bare.url}${PROFILE_PATH}`, headers: {} };
  }
  const idp = await startIdentityProvider({ accessTokenTtlSeconds: 7200, idTokenTtlSeconds: 7200, refreshTokenTtlSeconds: 7200 });
  onStop(() => idp.close());
  const redis = await startRedis();
  onStop(() => redis.stop());
  const gw = await startGatewayProcess({
    name: 'profile-target',
    nodeArgs: [...options.nodeArgs],
    ...(launcher ? { launcher } : {}),
    ...(readyTimeoutMs ? { readyTimeoutMs } : {}),
    ...(options.main ? { main: options.main } : {}),
    env: {
      ...benchGatewayEnv({ idp, upstreamUrl: upstream.url, sessionSecret: 'bench-session-secret-0123456789abcdef-xyz', logLevel: options.logLevel }),
      REDIS_ENABLED: 'true',
      REDIS_URL: redis.url,
      // Set, not defaulted: an older build (main) may have had the cache off by default.
      REDIS_SESSION_CACHE: 'true',
      ...(options.routePolicy ? { PROXY_ROUTES: '', ROUTES_FILE: routesFile(upstream.url, options.routePolicy) } : {}),
      ...options.env,
    },
  });
  await idp.updateClient({ redirect_uris: [`${gw.url}/auth/callback`] });
  const { browser, finalResponse } = await loginThroughProvider(`${gw.url}/auth/login`, { username: 'admin', password: 'test' });
  if (finalResponse.status !== 302) throw new Error(`login answered ${finalResponse.status}`);
  const cookie = browser.jar.get(gw.url, 'bff_session')!.value;
  return { pid: gw.pid, url: `${gw.url}${PROFILE_PATH}`, headers: { cookie: `bff_session=${cookie}`, 'x-csrf': '1' } };
}

/** `count` GETs of `url`, `concurrency` at a time; anything but a 200 stops the run. */
export async function drive(url: string, headers: Record<string, string>, count: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next++ < count) {
      const res = await fetch(url, { headers });
      if (res.status !== 200) throw new Error(`proxied request answered ${res.status}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
