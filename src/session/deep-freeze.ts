/**
 * Freezes a value and everything it holds, so one object can be handed to
 * many callers (every request of a session) without any of them being able
 * to change what the others see. Returns the same value.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
