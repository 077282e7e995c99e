/**
 * `npm run soak:storm`: many WebSockets held across the replicas, a rolling
 * restart closes each replica's share at once (1001), and every client
 * reconnects immediately with its cookie. Shows that every socket comes back,
 * how long each herd takes to settle, and what the herd cost the store
 * (Redis GETs, from INFO commandstats) and the provider (no logins, no
 * refresh storm).
 */
import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { holdWebSockets } from './held-websockets.js';
import { commandCalls } from './redis-info.js';
import { writeReportSection } from './report-file.js';
import type { Knobs } from './soak-knobs.js';
import { logInSessions } from './soak-sessions.js';
import { startTopology, WS_PATH } from './soak-topology.js';

const SETTLE_TIMEOUT_MS = 120_000;

interface Herd {
  replica: number;
  dropped: number;
  settleMs: number;
}

export async function runReconnectStorm(k: Knobs, log: (line: string) => void): Promise<number> {
  const topology = await startTopology(
    { replicas: k.replicas, users: k.stormSessions, accessTokenTtlS: k.accessTokenTtlS, refreshSkewS: k.refreshSkewS, logLevel: k.logLevel, sentinelDownAfterMs: k.sentinelDownAfterMs },
    log,
  );
  const { haproxy, idp, gateways } = topology;
  const sessions = await logInSessions(haproxy.url, k.stormSessions, k.loginConcurrency);
  const sockets = holdWebSockets({ url: haproxy.url, origin: haproxy.url, path: WS_PATH, count: k.stormSockets, reconnectDelayMs: 0, openConcurrency: 100 }, sessions);
  await sockets.ready;
  log(`${sockets.open()} WebSockets open over ${k.stormSessions} sessions`);
  await sleep(2000);

  const master = await topology.master();
  const before = { calls: await commandCalls(master), logins: idp.counters.authorizationCodeGrants, refreshes: idp.counters.refreshGrants };
  const herds: Herd[] = [];
  const started = Date.now();
  let sigtermAt = 0;
  let droppedBefore = 0;
  await gateways.rollingRestart(
    haproxy,
    (step) => {
      log(step);
      if (step.startsWith('SIGTERM')) {
        sigtermAt = Date.now();
        droppedBefore = sockets.dropTimes.length;
      }
    },
    async (replica) => {
      // The old process has exited: its sockets are closed and reconnecting.
      const exitedAt = Date.now();
      while (sockets.open() < k.stormSockets && Date.now() - exitedAt < SETTLE_TIMEOUT_MS) await sleep(10);
      const drops = sockets.dropTimes.slice(droppedBefore);
      const reopens = sockets.reopenTimes.filter((t) => t >= sigtermAt);
      const settleMs = drops.length && reopens.length ? Math.max(...reopens) - Math.min(...drops) : 0;
      herds.push({ replica, dropped: drops.length, settleMs });
      log(`replica ${replica}: ${drops.length} dropped, ${sockets.open()}/${k.stormSockets} open again after ${(settleMs / 1000).toFixed(2)} s`);
    },
  );
  const restartS = (Date.now() - started) / 1000;
  // Master may have changed only if Sentinel failed over, which the storm does not do.
  const after = { calls: await commandCalls(master), logins: idp.counters.authorizationCodeGrants, refreshes: idp.counters.refreshGrants };
  const openAtEnd = sockets.open();
  await sockets.close();

  const delta = (name: string) => (after.calls.get(name) ?? 0) - (before.calls.get(name) ?? 0);
  const reads = delta('get');
  const logins = after.logins - before.logins;
  const refreshes = after.refreshes - before.refreshes;
  const totalDropped = [...sockets.dropped.values()].reduce((a, b) => a + b, 0);
  const failed: string[] = [];
  if (openAtEnd < k.stormSockets) failed.push(`${k.stormSockets - openAtEnd} sockets not re-established`);
  if (logins > 0) failed.push(`${logins} logins during the herd`);
  if (refreshes > k.stormSessions) failed.push(`${refreshes} refreshes for ${k.stormSessions} sessions`);
  if (reads > sockets.reestablished()) failed.push(`${reads} store reads for ${sockets.reestablished()} re-established sockets`);
  const top = [...after.calls].map(([name, calls]) => [name, calls - (before.calls.get(name) ?? 0)] as const).filter(([, d]) => d > 0).sort((a, b) => b[1] - a[1]).slice(0, 8);
  const md = [
    `### Reconnect storm: ${k.label}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${k.stormSockets} WebSockets over ${k.stormSessions} sessions through HAProxy to ${k.replicas} replicas; a rolling restart (new process, in HAProxy rotation, then SIGTERM of the old) took ${restartS.toFixed(0)} s; ` +
      `each client reconnects the moment its socket closes, with its cookie. Access tokens ${k.accessTokenTtlS} s. ` +
      `Machine: ${availableParallelism()} cores, load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
    '',
    '| | result | must |',
    '|---|---|---|',
    `| sockets dropped / re-established | ${totalDropped} (close codes ${[...sockets.dropped].map(([c, n]) => `${c}: ${n}`).join(', ') || '—'}) / ${sockets.reestablished()}; open at the end **${openAtEnd}** of ${k.stormSockets} | all |`,
    `| refused re-opens on the way | ${[...sockets.refused].map(([c, n]) => `${c}: ${n}`).join(', ') || '0'} | |`,
    ...herds.map((h) => `| herd when replica ${h.replica} stopped | ${h.dropped} sockets back in ${(h.settleMs / 1000).toFixed(2)} s | |`),
    `| store reads (Redis GET) during the restart | **${reads}** (${(reads / Math.max(1, sockets.reestablished())).toFixed(2)} per re-established socket, ${(reads / k.stormSessions).toFixed(2)} per session) | ≤ 1 per socket |`,
    `| logins at the provider during the restart | **${logins}** | 0 |`,
    `| refresh grants during the restart | **${refreshes}** for ${k.stormSessions} sessions | ≤ 1 per session |`,
    `| Redis commands during the restart (top) | ${top.map(([n, d]) => `${n} ${d}`).join(', ')} | |`,
    '',
    failed.length ? `**Musts not met:** ${failed.join('; ')}.` : '**Every must met.**',
    '',
  ].join('\n');
  process.stdout.write(`${md}\n`);
  const file = writeReportSection(k.reportFile, 'storm', md);
  if (file) log(`report written to ${file}`);
  return failed.length ? 1 : 0;
}
