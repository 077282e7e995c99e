import type { Logger } from 'pino';
import type { SessionRecord } from '../session/session-store.js';

/** Request-scoped data on ctx.state, typed once. */
export interface GatewayState {
  requestId: string;
  log: Logger;
  /** undefined = not looked up yet; null = looked up, none. */
  session?: SessionRecord | null;
}
