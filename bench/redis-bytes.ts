/**
 * What Redis holds per login and per pending login, without the load test:
 *
 *   npx tsx bench/redis-bytes.ts
 *
 * 1. One session with Keycloak-sized tokens written through the store exactly
 *    as a login writes it (the same measurement `npm run bench` prints under
 *    "Redis bytes per login").
 * 2. Pending logins: GET /auth/login on a real gateway against the dev
 *    provider, N times, on an otherwise empty Redis; the transaction keys'
 *    MEMORY USAGE and the growth of used_memory, per login started.
 */
import { startTestGateway } from '../test/support/start-test-gateway.js';
import { startIdentityProvider } from '../test/support/start-identity-provider.js';
import { startRedis } from '../test/support/start-redis.js';
import { openBenchStore, waitForStore } from './bench-store.js';
import { keycloakSizedSession } from './keycloak-sized-session.js';
import { bytesOfOneLogin } from './session-bytes.js';

const PENDING_LOGINS = Number(process.env['BENCH_PENDING_LOGINS'] ?? 1000);

const redis = await startRedis();
const idp = await startIdentityProvider();
try {
  const store = openBenchStore(redis.url, 'bench-secret-bench-secret-bench-secret-0123');
  await waitForStore(store);
  const login = await bytesOfOneLogin(redis, store, keycloakSizedSession(Date.now()));
  await store.close();
  console.log('one session (Keycloak-sized tokens), MEMORY USAGE per key:');
  for (const k of login) console.log(`  ${k.key.padEnd(80)} ${String(k.bytes).padStart(6)}${k.valueBytes !== undefined ? `  (value ${k.valueBytes})` : ''}`);
  console.log(`  total ${login.reduce((sum, k) => sum + k.bytes, 0)} bytes`);

  const gateway = await startTestGateway({ idp, redisUrl: redis.url, env: { LOG_LEVEL: 'warn' } });
  try {
    await redis.cli('FLUSHALL');
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.cli('INFO', 'memory'))?.[1]);
    const before = await usedMemory();
    for (let i = 0; i < PENDING_LOGINS; i++) {
      const answer = await fetch(`${gateway.url}/auth/login?returnTo=/orders/42`, { redirect: 'manual' });
      if (answer.status !== 302) throw new Error(`/auth/login answered ${answer.status}`);
    }
    const after = await usedMemory();
    // The transaction is stored with putOnce: bff:<prefix>once:<base64url("tx:<state>")>.
    const allKeys = (await redis.cli('--scan')).split('\n').filter(Boolean);
    const txKeys = allKeys.filter((key) => Buffer.from(key.split(':once:')[1] ?? '', 'base64url').toString().startsWith('tx:'));
    let txBytes = 0;
    for (const key of txKeys) txBytes += Number(await redis.cli('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    console.log(`\n${PENDING_LOGINS} logins started (GET /auth/login), nothing else in Redis:`);
    console.log(`  keys: ${allKeys.length} (${txKeys.length} transaction keys, named like ${txKeys[0]?.replace(/once:.*/, 'once:<base64url of tx:state>')})`);
    console.log(`  MEMORY USAGE of a transaction key: ${(txBytes / Math.max(1, txKeys.length)).toFixed(0)} bytes on average`);
    console.log(`  used_memory growth: ${((after - before) / PENDING_LOGINS).toFixed(0)} bytes per pending login`);
  } finally {
    await gateway.close();
  }
} finally {
  await idp.close();
  await redis.stop();
}
