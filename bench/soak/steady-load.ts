/**
 * The steady load: a fixed rate of proxied GETs through HAProxy, open loop
 * (a slow answer does not slow the schedule, up to a bound on requests in
 * flight), walking the sessions round robin so every session is used every
 * sessions/rate seconds. A 401 marks the session lost.
 */
import { Pool } from 'undici';
import type { SoakSession } from './soak-sessions.js';
import type { Timeline } from './timeline.js';

export interface SteadyLoadOptions {
  url: string;
  path: string;
  rps: number;
  connections: number;
  maxInFlight: number;
}

export interface SteadyLoad {
  /** Requests the schedule wanted but could not send (maxInFlight reached): the generator's own limit. */
  readonly skipped: () => number;
  stop(): Promise<void>;
}

const TICK_MS = 10;

export function startSteadyLoad(options: SteadyLoadOptions, sessions: SoakSession[], timeline: Timeline): SteadyLoad {
  const pool = new Pool(options.url, { connections: options.connections, headersTimeout: 30_000, bodyTimeout: 30_000, pipelining: 1 });
  let inFlight = 0;
  let skipped = 0;
  let nextSession = 0;
  let owed = 0;
  let last = Date.now();
  const pending = new Set<Promise<void>>();

  const one = async (session: SoakSession) => {
    const startedAt = Date.now();
    const event = timeline.current;
    const t0 = performance.now();
    let status: string;
    try {
      const res = await pool.request({ method: 'GET', path: options.path, headers: { cookie: session.cookie, 'x-csrf': '1' } });
      await res.body.dump();
      status = String(res.statusCode);
    } catch (err) {
      status = 'error';
      timeline.recordError(event, (err as { code?: string }).code ?? (err as Error).name);
    }
    timeline.record(startedAt, event, status, performance.now() - t0);
    if (status === '401' && session.lostAt === undefined) {
      session.lostAt = startedAt;
      session.lostEvent = event;
    }
  };

  const timer = setInterval(() => {
    const now = Date.now();
    owed += ((now - last) / 1000) * options.rps;
    last = now;
    while (owed >= 1) {
      owed--;
      if (inFlight >= options.maxInFlight) {
        skipped++;
        continue;
      }
      const session = sessions[nextSession++ % sessions.length]!;
      inFlight++;
      const p = one(session).finally(() => {
        inFlight--;
        pending.delete(p);
      });
      pending.add(p);
    }
  }, TICK_MS);

  return {
    skipped: () => skipped,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      await pool.close();
    },
  };
}
