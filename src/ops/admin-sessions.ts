import Router from '@koa/router';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { OidcClient } from '../oidc/oidc-client.js';
import { toSessionSummary } from '../session/session-summary.js';
import type { SessionRecord, SessionStore } from '../session/session-store.js';
import { StoreError } from '../session/store-error.js';
import type { AdminState } from './admin-app.js';
import { adminBearerAuth } from './admin-auth.js';
import type { Metrics } from './metrics.js';

export interface AdminSessionsDeps {
  store: SessionStore;
  oidc: Pick<OidcClient, 'revoke'>;
  logger: Logger;
  /** ADMIN_TOKEN; the routes answer 404 while it is unset. */
  adminToken?: string;
  metrics?: Metrics;
}

/**
 * Operator session management on the admin port (CONTRACT.md "Admin listener"):
 * GET /sessions?sub= lists a user's sessions (never a token), DELETE
 * /sessions?sub= or ?sid= ends them in the shared store (every replica) and
 * revokes their refresh tokens at the provider. Mounted through createAdminApp's `routers`.
 */
export function createAdminSessionRoutes(deps: AdminSessionsDeps): Router {
  const { store, oidc, metrics } = deps;
  const router = new Router();
  router.use('/sessions', adminBearerAuth(deps), answerStoreFailures);

  router.get('/sessions', async (ctx: Context) => {
    const sub = singleParam(ctx, 'sub');
    if (sub === undefined) return badRequest(ctx, 'Give the user as ?sub=<subject>.');
    const records = await store.listBySub(sub);
    ctx.body = { sub, sessions: records.map(describeSession) };
  });

  router.delete('/sessions', async (ctx: Context) => {
    const sub = singleParam(ctx, 'sub');
    const sid = singleParam(ctx, 'sid');
    if ((sub === undefined) === (sid === undefined)) return badRequest(ctx, 'Give exactly one of ?sub=<subject> or ?sid=<provider session id>.');
    const ended = sid !== undefined ? await store.deleteBySid(sid) : await store.deleteBySub(sub!);
    const log = (ctx.state as AdminState).log;
    const revoked = await revokeAll(ended, log);
    if (ended.length > 0) metrics?.logouts.inc({ kind: 'admin' }, ended.length);
    log.info(
      { event: 'admin_revocation', sub: sub ?? ended[0]?.sub, ...(sid !== undefined ? { sid } : {}), count: ended.length, revoked },
      'sessions ended by an operator',
    );
    ctx.body = { ended: ended.length, revoked, sessions: ended.map(describeSession) };
  });

  // A failed revocation never keeps a session alive: it is already gone from the store.
  async function revokeAll(records: SessionRecord[], log: Logger): Promise<number> {
    const results = await Promise.all(
      records.map(async (record) => {
        const token = record.tokens.refresh_token;
        if (!token) return false;
        return oidc.revoke(token, 'refresh_token').then(
          () => true,
          (err: unknown) => {
            log.warn({ sub: record.sub, err: (err as Error).message }, 'refresh token revocation failed; session removed anyway');
            return false;
          },
        );
      }),
    );
    return results.filter(Boolean).length;
  }

  return router;
}

function describeSession(record: SessionRecord) {
  const summary = toSessionSummary(record);
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    id_hash: summary.id_hash,
    sid: summary.sid ?? null,
    created_at: iso(summary.created_at_ms),
    expires_at: iso(summary.expires_at_ms),
    refreshed_at: iso(summary.refreshed_at_ms),
  };
}

function singleParam(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function badRequest(ctx: Context, message: string): void {
  ctx.status = 400;
  ctx.body = { error: 'invalid_request', message };
}

async function answerStoreFailures(ctx: Context, next: () => Promise<unknown>): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    ctx.status = 503;
    ctx.body = { error: 'store_unavailable', message: 'The session store is unavailable; try again shortly.' };
  }
}
