/**
 * The refresh of a rotating refresh token across a Sentinel failover. Between
 * a replica's promotion and the clients following it, the old master still
 * acknowledges writes that are discarded when it resyncs: a rotated refresh
 * token written there is lost (the session's next refresh presents the spent
 * one: reuse, the provider ends the grant), and a refresh lock taken there
 * does not stop a replica already on the new master from spending the same
 * token. Two stores (two gateways) refresh the same sessions over and over,
 * concurrently, through a SENTINEL FAILOVER; the provider is a rotation
 * ledger that counts every reuse.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { InvalidGrantError, UnauthenticatedError } from '../../src/errors.js';
import type { OidcClient } from '../../src/oidc/oidc-client.js';
import { createTokenRefresher } from '../../src/proxy/token-refresher.js';
import { redisConfig, redisStoreHarness } from '../support/redis-store-harness.js';
import { sampleRecord } from '../support/session-store-contract.js';
import { demotedResynced, failOver } from '../support/sentinel-failover.js';
import { startRedisSentinel, type RedisSentinelSetup } from '../support/start-redis.js';
import { waitFor } from '../support/wait-for.js';

let setup: RedisSentinelSetup;
beforeAll(async () => {
  setup = await startRedisSentinel();
}, 90_000);
afterAll(async () => {
  await setup?.stop();
});

describe('refreshing through a planned Sentinel failover', () => {
  it('keeps every rotated refresh token, and spends none twice, while two replicas refresh the same sessions through the failover', async () => {
    const config = redisConfig({ mode: 'sentinel', sentinels: setup.sentinels, name: setup.masterName, url: 'redis://localhost:6379/0' });
    const [a, b] = await Promise.all([redisStoreHarness(config), redisStoreHarness(config)]);
    // The provider's side of rotation: each grant has one live refresh token; presenting a spent one is reuse.
    const live = new Map<string, number>();
    let grants = 0;
    let reuse = 0;
    const oidc: Pick<OidcClient, 'refresh'> = {
      async refresh(refreshToken) {
        const [id, generation] = refreshToken.split('#') as [string, string];
        if (live.get(id) !== Number(generation)) {
          reuse++;
          throw new InvalidGrantError(undefined, 'invalid_grant');
        }
        live.set(id, Number(generation) + 1);
        grants++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        // Due again at once (1 s against the 30 s skew): every pass of every replica refreshes.
        return { access_token: `at-${id}-${Number(generation) + 1}`, refresh_token: `${id}#${Number(generation) + 1}`, token_type: 'Bearer', expires_in: 1 };
      },
    };
    const gatewayConfig = loadConfig({ OIDC_ISSUER: 'https://kc.example/realms/r', OIDC_CLIENT_ID: 'bff' });
    const refresher = (store: typeof a.store) =>
      createTokenRefresher({ config: gatewayConfig, store, oidc, clock: Date.now, logger: pino({ level: 'silent' }), pollIntervalMs: 10 });
    const replicas = [
      { store: a.store, refresher: refresher(a.store) },
      { store: b.store, refresher: refresher(b.store) },
    ];
    const ids: string[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        const base = sampleRecord(Date.now(), { expires_at_ms: Date.now() + 3_600_000 });
        const record = { ...base, tokens: { ...base.tokens, refresh_token: `${base.id}#0`, access_expires_at_ms: Date.now() } };
        live.set(record.id, 0);
        await a.store.create(record);
        ids.push(record.id);
      }
      let running = true;
      const lost = new Set<string>();
      // Every session refreshed over and over by both replicas at once, as two gateways behind a balancer would.
      const loops = ids.flatMap((id) =>
        replicas.map(async ({ store, refresher: r }) => {
          while (running && !lost.has(id)) {
            try {
              const record = await store.get(id);
              if (!record) throw new UnauthenticatedError();
              await r.ensureFresh(record);
            } catch (err) {
              if (err instanceof UnauthenticatedError) lost.add(id);
              // Otherwise a 503 while the store follows the failover: the session is kept, try again.
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
          }
        }),
      );
      await waitFor(() => grants >= 200, { what: 'refreshes under way', timeoutMs: 30_000 });
      const { from } = await failOver(setup);
      const grantsAtSwitch = grants;
      // On through the announcement and the clients' reconnect.
      const refreshingAfterSwitch = await waitFor(() => grants >= grantsAtSwitch + 300, { what: 'refreshes after the switch', timeoutMs: 60_000 }).then(
        () => true,
        () => false,
      );
      running = false;
      await Promise.all(loops);
      await demotedResynced(setup, from);

      const check = await redisStoreHarness(config);
      try {
        const behind: string[] = [];
        for (const id of ids) {
          const stored = await check.store.get(id);
          if (stored?.tokens.refresh_token !== `${id}#${live.get(id)}`) behind.push(`${id}: stored ${stored?.tokens.refresh_token ?? 'nothing'}, live #${live.get(id)}`);
        }
        expect({ reuse, lost: [...lost], behind, refreshingAfterSwitch }).toEqual({ reuse: 0, lost: [], behind: [], refreshingAfterSwitch: true });
      } finally {
        await check.close();
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 180_000);
});
