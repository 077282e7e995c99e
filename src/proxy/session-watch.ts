import type { Logger } from 'pino';

export interface SessionWatch {
  /** Calls `onEnded` once when the session is found gone; the returned function stops watching. */
  watch(sessionId: string, onEnded: () => void): () => void;
  /** One check of every watched session, now. */
  checkNow(): Promise<void>;
  stop(): void;
}

export interface SessionWatchDeps {
  intervalMs: number;
  /** True while the session exists; rejects when the store cannot tell (nothing is ended then). */
  isLive(sessionId: string): Promise<boolean>;
  logger: Logger;
}

/**
 * Notices sessions that ended (logout on any replica, back-channel logout,
 * admin deletion, expiry) while long-lived connections still use them. One
 * timer per process, and each interval one store read per *distinct* session
 * with open connections, however many tabs share it; nothing runs while
 * nothing is watched. A store outage ends nothing: a transient error is never
 * taken for "no session".
 */
export function createSessionWatch(deps: SessionWatchDeps): SessionWatch {
  const { intervalMs, isLive, logger } = deps;
  const watchers = new Map<string, Set<() => void>>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let storeFailing = false;

  async function checkAll(): Promise<void> {
    const ids = [...watchers.keys()];
    const results = await Promise.allSettled(ids.map((id) => isLive(id)));
    let failures = 0;
    results.forEach((result, i) => {
      if (result.status === 'rejected') {
        failures += 1;
        return;
      }
      if (result.value) return;
      const id = ids[i]!;
      const ended = watchers.get(id);
      watchers.delete(id);
      for (const onEnded of ended ?? []) onEnded();
    });
    // One line per state change, not one per interval.
    if ((failures > 0) !== storeFailing) {
      storeFailing = failures > 0;
      if (storeFailing) logger.warn({ event: 'session_watch', failures }, 'cannot check WebSocket sessions; connections kept open');
      else logger.info({ event: 'session_watch' }, 'WebSocket session checks work again');
    }
    if (watchers.size === 0) stopTimer();
  }

  function checkNow(): Promise<void> {
    running ??= checkAll().finally(() => (running = undefined));
    return running;
  }

  function stopTimer(): void {
    clearInterval(timer);
    timer = undefined;
  }

  return {
    watch(sessionId, onEnded) {
      const set = watchers.get(sessionId) ?? new Set();
      set.add(onEnded);
      watchers.set(sessionId, set);
      if (!timer) {
        // A check still running when the next is due is not doubled up.
        timer = setInterval(() => void checkNow(), intervalMs);
        timer.unref();
      }
      return () => {
        const current = watchers.get(sessionId);
        current?.delete(onEnded);
        if (current?.size === 0) watchers.delete(sessionId);
        if (watchers.size === 0) stopTimer();
      };
    },
    checkNow,
    stop() {
      stopTimer();
      watchers.clear();
    },
  };
}
