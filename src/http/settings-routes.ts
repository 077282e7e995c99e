import Router from '@koa/router';
import type { Context } from 'koa';
import { InvalidRequestError, UnauthenticatedError, UnsupportedMediaTypeError } from '../errors.js';
import type { SessionStore } from '../session/session-store.js';
import type { GatewayState } from './gateway-state.js';
import { readLimitedBody } from './read-body.js';
import type { SessionAccess } from './session-access.js';

/** 16 KiB: preferences, not a document store (CONTRACT.md "GET/PUT /auth/settings"). */
const SETTINGS_LIMIT_BYTES = 16 * 1024;

type Ctx = Context & { state: GatewayState };

export interface SettingsRoutesDeps {
  store: SessionStore;
  sessions: SessionAccess;
  /** SETTINGS_DEFAULTS_FILE, loaded by loadConfig; stored values win over them. */
  defaults: Readonly<Record<string, unknown>>;
}

/**
 * GET/PUT /auth/settings: per-session preferences, stored beside the session
 * (same expiry, deleted with it). The unsafe-method Origin rule of app.ts
 * guards PUT; so does the JSON content type, which no cross-site form can send.
 */
export function createSettingsRoutes(deps: SettingsRoutesDeps): Router<GatewayState> {
  const { store, sessions, defaults } = deps;
  const router = new Router<GatewayState>({ prefix: '/auth' });

  const answer = (ctx: Ctx, stored: Record<string, unknown> | null) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ...defaults, ...stored };
  };

  router.get('/settings', async (ctx: Ctx) => {
    const session = await sessions.require(ctx);
    answer(ctx, await store.getSettings(session.id));
  });

  router.put('/settings', async (ctx: Ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const session = await sessions.require(ctx);
    const settings = await readSettings(ctx);
    // The session may have ended while the body was read (logout on another tab or replica).
    if (!(await store.putSettings(session.id, settings))) {
      sessions.clearCookie(ctx);
      throw new UnauthenticatedError();
    }
    answer(ctx, settings);
  });

  return router;
}

async function readSettings(ctx: Ctx): Promise<Record<string, unknown>> {
  if (!ctx.is('application/json', '+json')) throw new UnsupportedMediaTypeError('JSON (application/json)');
  const text = (await readLimitedBody(ctx, SETTINGS_LIMIT_BYTES)).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidRequestError('invalid_settings', 'The body is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRequestError('invalid_settings', 'Settings must be a JSON object.');
  }
  return value as Record<string, unknown>;
}
