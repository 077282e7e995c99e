/**
 * `npm run soak -- --seed N`: the same topology with 10 logged-in sessions,
 * proxied p50 measured; then N sessions of other users (Keycloak-sized)
 * written through the store as logins write them, and p50 measured again;
 * then Redis emptied, 10 sessions logged in anew and p50 measured a third
 * time. Reports Redis memory in all and per session and the seeded p50
 * against the mean of the two 10-session measurements around it (must be
 * within ±10 %): the control after the seeded rounds takes out whatever the
 * minutes of seeding changed on a shared machine besides Redis's size.
 */
import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { openBenchStore, seedSessions, waitForStore } from '../bench-store.js';
import { keycloakSizedSession } from '../keycloak-sized-session.js';
import { median } from '../stats.js';
import { measureLatency, type LatencyResult } from './closed-loop-latency.js';
import { usedMemory } from './redis-info.js';
import { writeReportSection } from './report-file.js';
import type { Knobs } from './soak-knobs.js';
import { logInSessions } from './soak-sessions.js';
import { API_PATH, SOAK_SESSION_SECRET, startTopology } from './soak-topology.js';

const MEASURED_SESSIONS = 10;
const CONNECTIONS = 16;

export async function runSeeded(k: Knobs, log: (line: string) => void): Promise<number> {
  const topology = await startTopology(
    // Tokens outlive the measurement: no refresh inside it.
    { replicas: k.replicas, users: MEASURED_SESSIONS, accessTokenTtlS: 3600, refreshSkewS: k.refreshSkewS, logLevel: k.logLevel, sentinelDownAfterMs: k.sentinelDownAfterMs },
    log,
  );
  const { haproxy } = topology;
  const sessions = await logInSessions(haproxy.url, MEASURED_SESSIONS, MEASURED_SESSIONS);
  const master = await topology.master();

  const measure = async (label: string, measured = sessions): Promise<LatencyResult[]> => {
    await measureLatency(haproxy.url, API_PATH, measured, CONNECTIONS, Math.min(10, k.seedMeasureS)); // warm-up (the JIT, the caches)
    const rounds: LatencyResult[] = [];
    for (let round = 1; round <= k.seedRounds; round++) {
      const r = await measureLatency(haproxy.url, API_PATH, measured, CONNECTIONS, k.seedMeasureS);
      log(`${label} round ${round}: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.rps.toFixed(0)} req/s, non-2xx ${r.non2xx}`);
      rounds.push(r);
    }
    return rounds;
  };

  const few = await measure(`${MEASURED_SESSIONS} sessions`);
  const memBefore = await usedMemory(master);
  const store = openBenchStore(master.url, SOAK_SESSION_SECRET);
  await waitForStore(store);
  const started = Date.now();
  const batch = 100_000;
  for (let done = 0; done < k.seedSessions; done += batch) {
    const n = Math.min(batch, k.seedSessions - done);
    await seedSessions(store, n, (i) => keycloakSizedSession(Date.now(), { sub: `seeded-user-${done + i}` }));
    log(`seeded ${(done + n).toLocaleString('en-US')}`);
  }
  await store.close();
  const seedS = (Date.now() - started) / 1000;
  const memAfter = await usedMemory(master);
  const keys = Number(await master.cli('DBSIZE'));
  const many = await measure(`${k.seedSessions} sessions`);

  // The control: the same processes and machine, without the million (FLUSHALL reaches the replica and
  // every gateway's cache through the invalidations). ASYNC: a synchronous flush of gigabytes stalls Redis
  // for seconds, long enough for the Sentinels to fail it over; its memory is freed before the rounds start.
  await master.cli('FLUSHALL', 'ASYNC');
  while (!/lazyfree_pending_objects:0\b/.test(await master.cli('INFO', 'memory'))) await sleep(500);
  const control = await logInSessions(haproxy.url, MEASURED_SESSIONS, MEASURED_SESSIONS);
  const fewAgain = await measure(`${MEASURED_SESSIONS} sessions again (after FLUSHALL)`, control);

  const p50Before = median(few.map((r) => r.p50));
  const p50Again = median(fewAgain.map((r) => r.p50));
  const p50Few = (p50Before + p50Again) / 2;
  const p50Many = median(many.map((r) => r.p50));
  const ratio = p50Many / p50Few;
  const ok = Math.abs(ratio - 1) <= 0.1 && [...few, ...many, ...fewAgain].every((r) => r.non2xx === 0);
  const n = k.seedSessions.toLocaleString('en-US');
  const md = [
    `### Seeded: ${k.label}, ${n} sessions, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${MEASURED_SESSIONS} sessions logged in through the provider; ${n} more (Keycloak-sized tokens) written through the store in ${seedS.toFixed(0)} s; ` +
      `then Redis emptied (FLUSHALL) and ${MEASURED_SESSIONS} sessions logged in anew, the control. ` +
      `Proxied GET through HAProxy and the 3 replicas, ${CONNECTIONS} connections, ${k.seedRounds} rounds × ${k.seedMeasureS} s each time (median of the rounds); ` +
      `the 10-session p50 is the mean of the measurements before seeding and after the FLUSHALL. ` +
      `Machine: ${availableParallelism()} cores, load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
    '',
    '| | 10 sessions | seeded | must |',
    '|---|---:|---:|---|',
    `| Redis used_memory | ${(memBefore / 2 ** 20).toFixed(1)} MiB | ${(memAfter / 2 ** 20).toFixed(1)} MiB (${keys.toLocaleString('en-US')} keys) | |`,
    `| Redis memory per seeded session | | ${((memAfter - memBefore) / k.seedSessions).toFixed(0)} bytes | |`,
    `| proxied p50 | ${p50Few.toFixed(2)} ms (before ${p50Before.toFixed(2)}, after ${p50Again.toFixed(2)}) | ${p50Many.toFixed(2)} ms (**${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %**) | within ±10 % |`,
    `| proxied p99 | before ${median(few.map((r) => r.p99)).toFixed(2)} ms, after ${median(fewAgain.map((r) => r.p99)).toFixed(2)} ms | ${median(many.map((r) => r.p99)).toFixed(2)} ms | |`,
    `| req/s | before ${median(few.map((r) => r.rps)).toFixed(0)}, after ${median(fewAgain.map((r) => r.rps)).toFixed(0)} | ${median(many.map((r) => r.rps)).toFixed(0)} | |`,
    '',
    ok ? '**Every must met.**' : '**Musts not met:** p50 outside ±10 % or non-2xx answers.',
    '',
  ].join('\n');
  process.stdout.write(`${md}\n`);
  const file = writeReportSection(k.reportFile, 'seeded', md);
  if (file) log(`report written to ${file}`);
  return ok ? 0 : 1;
}
