/**
 * REDIS_FALLBACK=memory (single-instance deployments that asked for it): while
 * Redis is down, new logins work from memory, sessions kept in Redis answer
 * 503 (never a logout), and when Redis returns the sessions made meanwhile
 * are copied into it and deletes made meanwhile are applied.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFallbackStore } from '../../src/session/fallback-store.js';
import { createMemoryStore } from '../../src/session/memory-store.js';
import { createRedisClient } from '../../src/session/redis-client.js';
import { createRedisStore } from '../../src/session/redis-store.js';
import { createSessionRecordCodec } from '../../src/session/session-record-codec.js';
import type { SessionStore } from '../../src/session/session-store.js';
import { StoreError } from '../../src/session/store-error.js';
import { createTokenSealer } from '../../src/session/token-sealer.js';
import { createBrowser } from '../support/browser-login.js';
import { logIn, logLines, logOut, me, sessionIdOf } from '../support/gateway-user.js';
import { waitUntil } from '../support/wait-for.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { redisConfig, redisStoreHarness, TEST_SECRET } from '../support/redis-store-harness.js';
import { sampleRecord } from '../support/session-store-contract.js';
import { findFreePort, startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let idp: TestIdentityProvider;
let redis: RedisServer;
let gw: TestGateway;

beforeAll(async () => {
  [idp, redis] = await Promise.all([startIdentityProvider(), startRedis({ appendonly: true })]);
  gw = await startTestGateway({ idp, redisUrl: redis.url, env: { REDIS_FALLBACK: 'memory', REDIS_COMMAND_TIMEOUT_MS: '500' } });
}, 60_000);
afterAll(async () => {
  await gw?.close();
  await Promise.all([redis?.stop(), idp?.close()]);
});

async function admin(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gw.adminUrl}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('REDIS_FALLBACK=memory', () => {
  it('says so loudly at start-up', () => {
    const lines = logLines(gw, /^session store: REDIS_FALLBACK=memory/);
    expect(lines).toHaveLength(1);
    expect(lines[0]!['level']).toBe('warn');
    expect(String(lines[0]!['msg'])).toMatch(/THIS PROCESS ONLY/);
    // Connecting at start-up is not an outage.
    expect(logLines(gw, /^SESSION STORE FALLBACK/)).toEqual([]);
  });

  it('waits out the start-up grace, then serves from memory when Redis is down from the start', async () => {
    const port = await findFreePort();
    const lines: string[] = [];
    const logger = { info: () => {}, warn: () => {}, error: (_: object, msg?: string) => void lines.push(msg ?? '') };
    const primary = createRedisStore({
      client: createRedisClient(redisConfig({ mode: 'single', url: `redis://127.0.0.1:${port}` })),
      codec: createSessionRecordCodec(createTokenSealer([TEST_SECRET])),
      clock: Date.now,
      keyPrefix: 'session:',
    });
    const store = createFallbackStore({ primary, fallback: createMemoryStore({ clock: Date.now }), logger, startupGraceMs: 300 });
    try {
      await expect(store.ping()).rejects.toThrow(StoreError);
      expect(lines).toEqual([]);
      await waitUntil('the fallback to take over', 15_000, () => store.ping().then(() => true, () => false));
      const record = sampleRecord(Date.now());
      await store.create(record);
      expect(await store.get(record.id)).toEqual(record);
      expect(lines).toEqual([expect.stringMatching(/^SESSION STORE FALLBACK:/)]);
    } finally {
      await store.close();
    }
  });

  it('serves new logins from memory while Redis is down, keeps Redis sessions (503, not logged out), and hands everything back to Redis', async () => {
    const kept = await logIn(gw);
    const endedMeanwhile = await logIn(gw, createBrowser());
    const endedRecord = await gw.store.get(sessionIdOf(gw, endedMeanwhile));
    expect(await admin('/status')).toMatchObject({ status: 200, body: { store: 'redis', connected: true, fallback: 'memory', fallback_active: false } });

    await redis.kill();
    expect(await me(gw, kept)).toMatchObject({ status: 503, body: { error: 'store_unavailable' } });
    expect(logLines(gw, /^SESSION STORE FALLBACK:/)).toHaveLength(1);
    expect(logLines(gw, /^SESSION STORE FALLBACK:/)[0]!['level']).toBe('error');
    expect((await admin('/readyz')).status).toBe(200);
    expect(await admin('/status')).toMatchObject({ status: 503, body: { connected: false, fallback: 'memory', fallback_active: true } });

    const duringOutage = await logIn(gw, createBrowser());
    expect((await me(gw, duringOutage)).status).toBe(200);
    expect(await admin('/status')).toMatchObject({ body: { sessions: 1 } });
    // A back-channel logout while Redis is down: owed to Redis until it returns.
    await gw.store.deleteBySid(endedRecord!.sid!);
    expect(await me(gw, kept)).toMatchObject({ status: 503 });
    expect(kept.jar.get(gw.publicUrl, gw.config.session.cookieName)).toBeDefined();

    await redis.restart();
    await waitUntil('the switch back to redis', 15_000, () => logLines(gw, /^SESSION STORE FALLBACK OFF/).length === 1);
    expect((await me(gw, kept)).status).toBe(200);
    expect((await me(gw, duringOutage)).status).toBe(200);
    expect((await me(gw, endedMeanwhile)).status).toBe(401);
    const movedKey = `session:${sessionIdOf(gw, duringOutage)}`;
    await waitUntil('the outage session copied into redis', 15_000, async () => (await redis.cli('EXISTS', movedKey)) === '1');
    expect(Number(await redis.cli('PTTL', movedKey))).toBeGreaterThan(0);
    expect(await admin('/status')).toMatchObject({ status: 200, body: { connected: true, fallback_active: false, sessions: 2 } });

    expect(await logOut(gw, duringOutage)).toBe(200);
    expect(await redis.cli('EXISTS', movedKey)).toBe('0');
    expect(logLines(gw, /^SESSION STORE FALLBACK:/)).toHaveLength(1);
    expect(logLines(gw, /^SESSION STORE FALLBACK OFF/)).toHaveLength(1);
  }, 60_000);
});

describe('REDIS_FALLBACK=memory at the moment Redis returns', () => {
  const quiet = { info: () => {}, warn: () => {}, error: () => {} };

  async function outage() {
    const own = await startRedis();
    const harness = await redisStoreHarness(redisConfig({ mode: 'single', url: own.url }));
    // Copies into Redis wait at this gate, so a test can act while one is under way.
    let gated = false;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let heldCopiesLanded = 0;
    const primary: SessionStore = {
      ...harness.store,
      create: async (r) => {
        if (!gated) return harness.store.create(r);
        await gate;
        const created = await harness.store.create(r);
        heldCopiesLanded += 1;
        return created;
      },
    };
    const store = createFallbackStore({ primary, fallback: createMemoryStore({ clock: Date.now }), logger: quiet, probeIntervalMs: 100, startupGraceMs: 0 });
    await store.ping();
    await own.kill();
    await waitUntil('the fallback to take over', 15_000, async () => (await store.status()).fallback_active === true || (await store.ping().then(() => false, () => false)));
    return { own, store, heldCopiesLanded: () => heldCopiesLanded, holdCopies: () => (gated = true), releaseCopies: () => open(), close: async () => (open(), await store.close(), await own.stop()) };
  }

  it('does not bring back a session logged out while it was being copied into Redis', async () => {
    const o = await outage();
    try {
      const record = sampleRecord(Date.now());
      await o.store.create(record); // in memory
      o.holdCopies();
      await o.own.restart();
      await waitUntil('Redis back in use', 10_000, async () => (await o.store.status()).fallback_active === false);
      const logout = o.store.delete(record.id);
      o.releaseCopies();
      expect((await logout)?.id).toBe(record.id);
      // The held copy has written to Redis by now, however late it ran: only then is "not brought back" meaningful.
      await waitUntil('the held copy into Redis to land', 15_000, () => o.heldCopiesLanded() === 1);
      expect(await o.store.get(record.id)).toBeNull();
      expect(await o.own.cli('EXISTS', `session:${record.id}`)).toBe('0');
    } finally {
      await o.close();
    }
  });

  it('keeps a refresh lock taken during the outage after Redis returns', async () => {
    const o = await outage();
    try {
      const record = sampleRecord(Date.now());
      await o.store.create(record);
      const held = await o.store.acquireLock(record.id, 30_000);
      expect(held).not.toBeNull();
      expect(await o.store.acquireLock(record.id, 30_000)).toBeNull();
      await o.own.restart();
      await waitUntil('Redis back in use', 10_000, async () => (await o.store.status()).fallback_active === false);
      expect(await o.store.acquireLock(record.id, 30_000)).toBeNull(); // still held: no second refresh
      await held!.release();
      const next = await o.store.acquireLock(record.id, 30_000);
      expect(next).not.toBeNull();
      await next!.release();
    } finally {
      await o.close();
    }
  });
});
