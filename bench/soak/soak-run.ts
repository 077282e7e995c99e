/**
 * The soak itself: log N sessions in, run the steady load and the held
 * WebSockets, inject the failures, check every session at the end, report.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onStop } from '../child-processes.js';
import { faultEvents, injectFaults } from './fault-injector.js';
import { heapTraceByPid } from './gc-trace.js';
import { holdWebSockets } from './held-websockets.js';
import { sampleProcesses } from './process-sampler.js';
import { summariseRefreshes } from './provider-ledger.js';
import { usedMemory } from './redis-info.js';
import { writeBeside, writeReportSection } from './report-file.js';
import type { Knobs } from './soak-knobs.js';
import { soakSvg } from './soak-plot.js';
import { soakReport } from './soak-report.js';
import { logInSessions, type SoakSession } from './soak-sessions.js';
import { API_PATH, startTopology, WS_PATH } from './soak-topology.js';
import { startSteadyLoad } from './steady-load.js';
import { Timeline } from './timeline.js';


export async function runSoak(k: Knobs, log: (line: string) => void): Promise<number> {
  const topology = await startTopology(
    { replicas: k.replicas, users: k.sessions, accessTokenTtlS: k.accessTokenTtlS, refreshSkewS: k.refreshSkewS, logLevel: k.logLevel, sentinelDownAfterMs: k.sentinelDownAfterMs },
    log,
  );
  const { haproxy, idp } = topology;
  const master = await topology.master();
  const memBefore = await usedMemory(master);
  const loginStart = Date.now();
  const sessions = await logInSessions(haproxy.url, k.sessions, k.loginConcurrency, (done) => log(`logged in ${done}/${k.sessions}`));
  const loginS = (Date.now() - loginStart) / 1000;
  log(`${k.sessions} sessions logged in in ${loginS.toFixed(1)} s`);
  const memAfter = await usedMemory(master);
  const keys = Number(await master.cli('DBSIZE'));

  const timeline = new Timeline();
  const processes = sampleProcesses(() => topology.gateways.running(), timeline.started, k.sampleS * 1000);
  onStop(async () => processes.stop());
  const cpuBefore = process.cpuUsage();
  const load = startSteadyLoad({ url: haproxy.url, path: API_PATH, rps: k.rps, connections: k.connections, maxInFlight: k.maxInFlight }, sessions, timeline);
  const websockets = holdWebSockets({ url: haproxy.url, origin: haproxy.url, path: WS_PATH, count: k.websockets, reconnectDelayMs: k.wsReconnectMs }, sessions);
  await websockets.ready;
  log(`load running: ${k.rps} req/s over ${k.sessions} sessions, ${websockets.open()} WebSockets open`);
  const progress = setInterval(() => {
    const s = timeline.seconds.at(-2);
    if (s) log(`t=${s.t}s ${s.requests} req/s p99 ${s.latency.quantile(0.99).toFixed(1)} ms statuses ${JSON.stringify(Object.fromEntries(s.statuses))} ws ${websockets.open()} [${timeline.current}]`);
  }, 10_000);

  const events = faultEvents(topology, { clientPauseMs: k.clientPauseMs, providerDownS: k.providerDownS, killReplica: 2 }).filter(
    (e) => !k.events || k.events.some((wanted) => e.name.toLowerCase().includes(wanted)),
  );
  if (events.length === 0) throw new Error(`SOAK_EVENTS matches no event: ${k.events?.join(',')}`);
  const slotS = Math.max(k.minRecoveryS, (Math.min(k.eventsMinutes, k.minutes) * 60 - k.warmupS) / events.length);
  await injectFaults(events, timeline, { warmupS: k.warmupS, slotS, minRecoveryS: k.minRecoveryS }, log);
  const endAt = timeline.started + k.minutes * 60_000;
  if (Date.now() < endAt) await sleep(endAt - Date.now());

  clearInterval(progress);
  const cpu = process.cpuUsage(cpuBefore);
  const scriptCpu = (cpu.user + cpu.system) / 1e6 / ((Date.now() - timeline.started) / 1000);
  await load.stop();
  processes.stop();
  const wsOpenAtEnd = websockets.open();
  await finalCheck(haproxy.url, sessions, k.loginConcurrency * 4);
  await websockets.close();
  log(`run over; ${wsOpenAtEnd} WebSockets were open at the end`);

  const refreshes = summariseRefreshes(topology.ledger, k.accessTokenTtlS, k.refreshSkewS);
  const { live: liveHeap, committed: committedHeap } = heapTraceByPid(topology.gateways.logFiles());
  // The raw series, for a second look at a verdict without another run.
  const rawFile = join(tmpdir(), `oidc-bff-soak-processes-${process.pid}.json`);
  writeFileSync(rawFile, JSON.stringify({ samples: processes.samples, firstSeen: [...processes.firstSeen], startedAt: [...processes.startedAt], liveHeap: [...liveHeap], committedHeap: [...committedHeap] }));
  log(`process samples and live heap: ${rawFile}`);
  const heading = `Soak: ${k.label}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const svgName = writeBeside(k.reportFile, 'reliability-soak.svg', soakSvg(timeline, heading));
  const parameters = [
    `Parameters: ${k.sessions.toLocaleString('en-US')} sessions (logged in through the provider in ${loginS.toFixed(0)} s, ${k.loginConcurrency} at once), `,
    `${k.minutes} min, ${k.rps} proxied GET/s through HAProxy over ${k.connections} connections, ${k.websockets} WebSockets held, `,
    `access tokens ${k.accessTokenTtlS} s, gateway refresh skew ${k.refreshSkewS} s, Sentinel down-after ${k.sentinelDownAfterMs} ms, ${k.replicas} replicas, warm-up ${k.warmupS} s, `,
    `${k.events ? `only the events matching ${k.events.join(', ')}, ` : ''}events every ${slotS.toFixed(0)} s (at least ${k.minRecoveryS} s of recovery each)${k.eventsMinutes < k.minutes ? `, all within the first ${k.eventsMinutes} min, then steady load` : ''}. `,
    `This script (provider, echo API, load generator, WebSocket clients) used ${(scriptCpu * 100).toFixed(0)} % of a core during the load. `,
    `Machine: ${availableParallelism()} cores, Node ${process.version}, load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
  ].join('');
  const verdict = soakReport({
    heading,
    parameters,
    timeline,
    sessions,
    refreshes,
    everySessionRefreshes: k.minutes * 60 > 2 * k.accessTokenTtlS,
    refusedRefreshes: topology.ledger.refusedRefreshes,
    websockets,
    websocketsOpenAtEnd: wsOpenAtEnd,
    websocketCount: k.websockets,
    processes,
    liveHeap,
    committedHeap,
    warmupS: k.processWarmupS,
    redis: { usedBytesBefore: memBefore, usedBytesAfter: memAfter, keys },
    skipped: load.skipped(),
    svgFile: svgName,
  });
  process.stdout.write(`${verdict.markdown}\n`);
  const file = writeReportSection(k.reportFile, 'run', verdict.markdown);
  if (file) log(`report written to ${file}`);
  if (idp.serverErrors.length) log(`provider server errors: ${idp.serverErrors.length} (first: ${String(idp.serverErrors[0])})`);
  return verdict.failed.length ? 1 : 0;
}

/** Every session once more, after the run: a 401 now is a session lost too. */
async function finalCheck(url: string, sessions: SoakSession[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < sessions.length) {
      const session = sessions[next++]!;
      const res = await fetch(`${url}${API_PATH}`, { headers: { cookie: session.cookie, 'x-csrf': '1' } });
      await res.body?.cancel();
      if (res.status === 401 && session.lostAt === undefined) {
        session.lostAt = Date.now();
        session.lostEvent = 'final check';
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
