/**
 * Everything the soak runs against, on loopback: Redis with Sentinel (one
 * master, one replica, three Sentinels), the dev provider with short access
 * tokens, the echo API as upstream, three gateway replicas (dist/main.js) and
 * HAProxy in front of them. All of it stops with the run (child-processes.ts).
 */
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { startIdentityProvider, type TestIdentityProvider } from '../../test/support/start-identity-provider.js';
import { startRedisSentinel, type RedisServer, type RedisSentinelSetup } from '../../test/support/start-redis.js';
import { onStop } from '../child-processes.js';
import { benchGatewayEnv } from '../gateway-process.js';
import { createGatewayReplicas, type GatewayReplicas } from './gateway-replicas.js';
import { startHaproxy, type HaproxyProcess } from './haproxy-process.js';
import { recordProviderGrants, type ProviderLedger } from './provider-ledger.js';
import { soakUser } from './soak-sessions.js';

export const SOAK_SESSION_SECRET = 'soak-session-secret-0123456789abcdef-xyz';
/** Proxied through PROXY_ROUTES /api to the echo API (which also accepts WebSocket upgrades). */
export const API_PATH = '/api/items/42';
export const WS_PATH = '/api/socket';

export interface TopologyOptions {
  replicas: number;
  /** Provider users soak-user-0 … soak-user-(users-1). */
  users: number;
  accessTokenTtlS: number;
  refreshSkewS: number;
  logLevel: string;
  /** Sentinel's down-after-milliseconds. */
  sentinelDownAfterMs: number;
  /** Extra gateway environment. */
  gatewayEnv?: Record<string, string>;
}

export interface Topology {
  readonly redis: RedisSentinelSetup;
  readonly idp: TestIdentityProvider;
  readonly ledger: ProviderLedger;
  readonly echo: EchoApi;
  readonly gateways: GatewayReplicas;
  readonly haproxy: HaproxyProcess;
  /** The data node Sentinel currently names master. */
  master(): Promise<RedisServer>;
}

export async function startTopology(options: TopologyOptions, log: (line: string) => void): Promise<Topology> {
  const redis = await startRedisSentinel({ downAfterMs: options.sentinelDownAfterMs });
  onStop(() => redis.stop());
  log(`redis: master ${redis.master.port}, replica ${redis.replica.port}, sentinels ${redis.sentinels.map((s) => s.port).join(' ')}`);

  const idp = await startIdentityProvider({
    accessTokenTtlSeconds: options.accessTokenTtlS,
    idTokenTtlSeconds: options.accessTokenTtlS,
    // Refresh tokens outlive the run: what expires is the access token.
    refreshTokenTtlSeconds: 24 * 3600,
    ssoSessionMaxSeconds: 24 * 3600,
    users: Array.from({ length: options.users }, (_, i) => soakUser(i)),
  });
  onStop(() => idp.close());
  const ledger = recordProviderGrants(idp);
  const echo = await createEchoApi();
  onStop(() => echo.close());

  const env: Record<string, string> = {
    ...benchGatewayEnv({ idp, upstreamUrl: echo.url, sessionSecret: SOAK_SESSION_SECRET, logLevel: options.logLevel }),
    REDIS_ENABLED: 'true',
    REDIS_SENTINELS: redis.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
    REDIS_SENTINEL_NAME: redis.masterName,
    TRUST_PROXY: 'true',
    TOKEN_REFRESH_SKEW_SECONDS: String(options.refreshSkewS),
    // As deploy/haproxy/haproxy.cfg asks of the gateways behind it: serve on until its checks took the replica out.
    SHUTDOWN_DELAY_MS: '5000',
    // Every soak login comes from 127.0.0.1.
    LOGIN_RATE_LIMIT_PER_MINUTE: '0',
    ...options.gatewayEnv,
  };
  // --trace-gc: the live heap after each full collection, the report's leak check beside RSS (gc-trace.ts).
  const gateways = await createGatewayReplicas(options.replicas, env, ['--trace-gc']);
  const haproxy = await startHaproxy(gateways.servers);
  log(`haproxy ${haproxy.url} (log ${haproxy.logFile})`);
  env['PUBLIC_URL'] = haproxy.url;
  await idp.updateClient({ redirect_uris: [`${haproxy.url}/auth/callback`], post_logout_redirect_uris: [`${haproxy.url}/`] });
  await gateways.startAll();
  // Empty slots leave the rotation only after their failed checks: wait for them.
  await gateways.settle(haproxy);
  log(`gateways: ${gateways.running().map((r) => `replica ${r.replica} pid ${r.pid}`).join(', ')}`);

  return {
    redis,
    idp,
    ledger,
    echo,
    gateways,
    haproxy,
    async master() {
      const [, port] = (await redis.sentinelCli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', redis.masterName)).split('\n');
      return Number(port) === redis.master.port ? redis.master : redis.replica;
    },
  };
}
