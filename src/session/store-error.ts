/**
 * The session store's backend did not answer (connection lost, command
 * timeout, cluster down). Never means "no session": callers answer 503.
 */
export class StoreError extends Error {
  readonly code = 'store_unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}
