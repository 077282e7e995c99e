export interface HeartbeatOptions {
  /** Silent once a PING has gone unanswered for this long (REDIS_COMMAND_TIMEOUT_MS). */
  staleAfterMs: number;
  /** Called once when the connection turns silent. */
  onSilent(): void;
  /** Called once when a silent connection answers again. */
  onAnswer(): void;
  /** Monotonic milliseconds: a wall-clock step must neither hide a hang nor fake one. */
  now?: () => number;
}

export interface Heartbeat {
  /** True while the oldest unanswered PING is older than `staleAfterMs`. */
  readonly silent: boolean;
  /** Another command just answered: that is proof of life too. */
  heard(): void;
  /** Checks now instead of at the next tick: calls onSilent (once) if the connection has turned silent. */
  notice(): void;
  stop(): void;
}

/**
 * Proof that a Redis connection answers, for a cache that must not outlive
 * its source: a PING every `staleAfterMs / 4`, one at a time. Measured from
 * when the unanswered PING was sent, so a busy event loop that merely delays
 * the timer does not count as Redis being silent.
 */
export function startHeartbeat(client: { ping(): Promise<unknown> }, options: HeartbeatOptions): Heartbeat {
  const { staleAfterMs, onSilent, onAnswer } = options;
  const now = options.now ?? (() => performance.now());
  let unansweredSince: number | undefined;
  let inFlight = false;
  let reported = false;
  const isSilent = () => unansweredSince !== undefined && now() - unansweredSince > staleAfterMs;

  const heard = () => {
    // A PING still out keeps being timed, from now: it may be the one that never comes back.
    unansweredSince = inFlight ? now() : undefined;
    if (reported) {
      reported = false;
      onAnswer();
    }
  };

  const notice = () => {
    if (!reported && isSilent()) {
      reported = true;
      onSilent();
    }
  };

  const timer = setInterval(
    () => {
      notice();
      if (inFlight) return;
      inFlight = true;
      unansweredSince ??= now();
      client.ping().then(
        () => {
          inFlight = false;
          heard();
        },
        () => {
          inFlight = false; // a failed PING proves nothing: the time since it was sent keeps counting
        },
      );
    },
    Math.max(10, Math.floor(staleAfterMs / 4)),
  );
  timer.unref();

  return {
    get silent() {
      return isSilent();
    },
    heard,
    notice,
    stop: () => clearInterval(timer),
  };
}
