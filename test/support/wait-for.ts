/**
 * Waits for an event a test can observe (a log line, a metric, a Redis key,
 * a closed socket) instead of sleeping a fixed time. The bound is generous on
 * purpose: it means "it happened", not "it was fast" (speed is the bench's job),
 * so a loaded 2-core CI machine does not fail a test for nothing.
 */
export interface WaitForOptions {
  /** What is awaited, for the timeout message. */
  what: string;
  /** Default 15 s. */
  timeoutMs?: number;
  /** Poll interval; default 20 ms. */
  intervalMs?: number;
}

export async function waitFor(predicate: () => boolean | Promise<boolean>, options: WaitForOptions): Promise<void> {
  const { what, timeoutMs = 15_000, intervalMs = 20 } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `waitFor` in a call's own words: what is awaited, for how long, the check (polled every 20 ms). */
export function waitUntil(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  return waitFor(check, { what, timeoutMs });
}
