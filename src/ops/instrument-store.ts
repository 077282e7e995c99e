import { performance } from 'node:perf_hooks';
import type { SessionStore } from '../session/session-store.js';
import type { Metrics } from './metrics.js';

type AsyncMethod = (...args: unknown[]) => Promise<unknown>;

/**
 * Wraps every store call with latency and error metrics; behaviour is unchanged.
 * store.get runs on every proxied request: one `then` and a clock read, no
 * extra async frame or timer closure per call.
 */
export function instrumentStore(store: SessionStore, metrics: Metrics): SessionStore {
  const wrapped: Record<string, unknown> = { kind: store.kind };
  for (const key of Object.keys(store) as (keyof SessionStore)[]) {
    const value = store[key];
    if (typeof value !== 'function' || key === 'peek') continue;
    const method = value as AsyncMethod;
    const duration = metrics.storeDuration.child(key);
    const errors = metrics.storeErrors.labels({ operation: key });
    // Exported at 0 from the start, not from the first failure: the store alert's rate() and the dashboard
    // need the series before anything went wrong (prom-client's labels() alone creates none).
    errors.inc(0);
    wrapped[key] = (...args: unknown[]) => {
      const started = performance.now();
      const done = () => duration.observe((performance.now() - started) / 1000);
      let pending: Promise<unknown>;
      try {
        pending = method.apply(store, args);
      } catch (err) {
        pending = Promise.reject(err);
      }
      return pending.then(
        (result) => {
          done();
          return result;
        },
        (err: unknown) => {
          errors.inc();
          done();
          throw err;
        },
      );
    };
  }
  // A cache hit answered without a promise still counts as a store get, in the histogram's lowest bucket
  // where every cache hit lands anyway: the operation=get count keeps meaning one per session read.
  const peek = store.peek;
  if (peek) {
    const gets = metrics.storeDuration.child('get');
    wrapped['peek'] = (id: string) => {
      const record = peek.call(store, id);
      if (record !== undefined) gets.observe(0);
      return record;
    };
  }
  return wrapped as unknown as SessionStore;
}
