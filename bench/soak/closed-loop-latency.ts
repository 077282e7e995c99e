/**
 * Proxied latency at a fixed concurrency: `connections` workers, each sending
 * the next GET as soon as the last answered, cycling through the sessions;
 * sub-millisecond p50 from the histogram (autocannon reports whole ms).
 */
import { Pool } from 'undici';
import { Histogram } from './histogram.js';
import type { SoakSession } from './soak-sessions.js';

export interface LatencyResult {
  readonly requests: number;
  readonly non2xx: number;
  readonly p50: number;
  readonly p99: number;
  readonly rps: number;
}

export async function measureLatency(url: string, path: string, sessions: readonly SoakSession[], connections: number, durationS: number): Promise<LatencyResult> {
  const pool = new Pool(url, { connections });
  const hist = new Histogram();
  let non2xx = 0;
  let next = 0;
  const until = Date.now() + durationS * 1000;
  const worker = async () => {
    while (Date.now() < until) {
      const session = sessions[next++ % sessions.length]!;
      const t0 = performance.now();
      const res = await pool.request({ method: 'GET', path, headers: { cookie: session.cookie, 'x-csrf': '1' } });
      await res.body.dump();
      hist.record(performance.now() - t0);
      if (res.statusCode < 200 || res.statusCode > 299) non2xx++;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  await pool.close();
  return { requests: hist.total, non2xx, p50: hist.quantile(0.5), p99: hist.quantile(0.99), rps: hist.total / durationS };
}
