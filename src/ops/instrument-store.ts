import type { SessionStore } from '../session/session-store.js';
import type { Metrics } from './metrics.js';

type AsyncMethod = (...args: unknown[]) => Promise<unknown>;

/** Wraps every store call with latency and error metrics; behaviour is unchanged. */
export function instrumentStore(store: SessionStore, metrics: Metrics): SessionStore {
  const wrapped: Record<string, unknown> = { kind: store.kind };
  for (const key of Object.keys(store) as (keyof SessionStore)[]) {
    const value = store[key];
    if (typeof value !== 'function') continue;
    const method = value as AsyncMethod;
    // Labelled children resolved once: store.get runs on every proxied request.
    const duration = metrics.storeDuration.labels({ operation: key });
    const errors = metrics.storeErrors.labels({ operation: key });
    wrapped[key] = async (...args: unknown[]) => {
      const stop = duration.startTimer();
      try {
        return await method.apply(store, args);
      } catch (err) {
        errors.inc();
        throw err;
      } finally {
        stop();
      }
    };
  }
  return wrapped as unknown as SessionStore;
}
