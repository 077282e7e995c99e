/**
 * Per-second record of the run: what the load saw (requests, statuses,
 * latency), the event being injected, and 503 bounds for "longest window".
 * Every result is tagged with the event current when its request started.
 */
import { Histogram } from './histogram.js';

const STEADY = 'steady';

export interface Second {
  readonly t: number;
  requests: number;
  /** HTTP status or "error" (no answer: connection refused/reset, timeout). */
  readonly statuses: Map<string, number>;
  readonly latency: Histogram;
  /** Results by event tag (one second can straddle two). */
  readonly byEvent: Map<string, Map<string, number>>;
}

export interface EventSpan {
  readonly name: string;
  readonly start: number;
  /** When the injected action finished (recovery follows until the next event). */
  actionEnd?: number;
  /** Free text: what happened (new master, steps). */
  notes: string[];
}

export class Timeline {
  readonly started = Date.now();
  readonly seconds: Second[] = [];
  readonly events: EventSpan[] = [];
  /** Times (ms) of every 503, per event. */
  readonly unavailable = new Map<string, number[]>();
  /** Why requests got no answer (undici error codes), per event. */
  readonly errors = new Map<string, Map<string, number>>();
  current = STEADY;

  recordError(event: string, code: string): void {
    const byCode = this.errors.get(event) ?? new Map<string, number>();
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
    this.errors.set(event, byCode);
  }

  second(at = Date.now()): Second {
    const t = Math.floor((at - this.started) / 1000);
    while (this.seconds.length <= t) {
      this.seconds.push({ t: this.seconds.length, requests: 0, statuses: new Map(), latency: new Histogram(), byEvent: new Map() });
    }
    return this.seconds[t]!;
  }

  begin(name: string): EventSpan {
    const span: EventSpan = { name, start: Date.now(), notes: [] };
    this.events.push(span);
    this.current = name;
    return span;
  }

  record(startedAt: number, event: string, status: string, latencyMs: number): void {
    const s = this.second(startedAt);
    s.requests++;
    s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    if (status !== 'error') s.latency.record(latencyMs);
    const perEvent = s.byEvent.get(event) ?? new Map<string, number>();
    perEvent.set(status, (perEvent.get(status) ?? 0) + 1);
    s.byEvent.set(event, perEvent);
    if (status === '503') {
      const times = this.unavailable.get(event) ?? [];
      times.push(startedAt);
      this.unavailable.set(event, times);
    }
  }
}
