import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { errorMiddleware } from '../../../src/http/error-middleware.js';
import { createSessionAccess } from '../../../src/http/session-access.js';
import { createSessionLayer } from '../../../src/http/session-layer.js';
import { sessionOf } from '../../../src/http/session-view.js';
import { createMemoryStore } from '../../../src/session/memory-store.js';
import { createSessionCookieCodec } from '../../../src/session/session-cookie.js';
import type { SessionStore } from '../../../src/session/session-store.js';

const OLD = 'o'.repeat(32);
const NEW = 'n'.repeat(32);
const T0 = Date.parse('2026-01-01T08:00:00Z');

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A store that counts the writes it is asked for. */
function countingStore(inner: SessionStore) {
  const writes: string[] = [];
  const store: SessionStore = {
    ...inner,
    create: (r) => (writes.push('create'), inner.create(r)),
    update: (id, u) => (writes.push('update'), inner.update(id, u)),
    delete: (id) => (writes.push('delete'), inner.delete(id)),
  };
  return { store, writes };
}

async function start(options: { secrets: string[]; idleTimeoutSeconds?: number; store: SessionStore; now: () => number }) {
  const config = loadConfig({
    OIDC_ISSUER: 'https://id.example/realms/app',
    OIDC_CLIENT_ID: 'app',
    SESSION_SECRET: options.secrets.join(','),
    SESSION_TTL_SECONDS: '3600',
    ...(options.idleTimeoutSeconds ? { SESSION_IDLE_TIMEOUT_SECONDS: String(options.idleTimeoutSeconds) } : {}),
  });
  const cookies = createSessionCookieCodec(config.session.secrets);
  const sessions = createSessionAccess({ config, store: options.store, cookies, clock: options.now });
  const layer = createSessionLayer({ config, store: options.store, sessions, clock: options.now });
  const app = new Koa();
  app.use(errorMiddleware());
  app.use((ctx, next) => (['/login', '/read'].includes(ctx.path) ? layer.load(ctx, next) : next()));
  app.use(async (ctx) => {
    if (ctx.path === '/login') {
      const now = options.now();
      const record = await layer.startSession(ctx, {
        sub: 'alice',
        user_info: { sub: 'alice', roles: ['user'] },
        tokens: { access_token: 'at', token_type: 'Bearer' },
        created_at_ms: now,
        expires_at_ms: now + 3_600_000,
        ...(options.idleTimeoutSeconds ? { last_seen_at_ms: now } : {}),
      });
      ctx.body = { id: record.id };
    } else {
      ctx.body = { session: sessionOf(ctx), live: layer.live(ctx)?.id ?? null, untouched: ctx.path === '/other' ? ctx['session'] === undefined : null };
    }
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server!.once('listening', resolve));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const cookieOf = (response: Response) => response.headers.getSetCookie().find((c) => c.startsWith('bff_session='))!;

describe('koa-session over the SessionStore', () => {
  it('creates a session with a 256-bit id, the signed cookie of our codec, and Max-Age to the absolute end', async () => {
    const { store } = countingStore(createMemoryStore({ clock: () => T0 }));
    const base = await start({ secrets: [NEW], store, now: () => T0 });
    const response = await fetch(`${base}/login`);
    const { id } = (await response.json()) as { id: string };
    expect(Buffer.from(id, 'base64url')).toHaveLength(32);
    expect(response.headers.getSetCookie()).toHaveLength(1);
    const cookie = cookieOf(response);
    expect(cookie).toMatch(/^bff_session=[\w-]{43}\.[\w-]{43}; Path=\/; Max-Age=3600; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    expect(createSessionCookieCodec([NEW]).verify(cookie.split(/[=;]/)[1])).toBe(id);
    expect(await store.get(id)).toMatchObject({ sub: 'alice', tokens: { access_token: 'at' } });
  });

  it('reads a session without writing it, and never shows koa-session the tokens', async () => {
    const counted = countingStore(createMemoryStore({ clock: () => T0 }));
    const base = await start({ secrets: [NEW], store: counted.store, now: () => T0 });
    const cookie = cookieOf(await fetch(`${base}/login`)).split(';')[0]!;
    counted.writes.length = 0;
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${base}/read`, { headers: { cookie } });
      expect(response.headers.getSetCookie()).toEqual([]);
      const body = (await response.json()) as { session: Record<string, unknown> };
      expect(body.session).toEqual({ user: { sub: 'alice', roles: ['user'] }, roles: ['user'], created_at: new Date(T0).toISOString(), expires_at: new Date(T0 + 3_600_000).toISOString() });
    }
    expect(counted.writes).toEqual([]);
  });

  it('replaces the old session at re-login: the old record is deleted and the new one has a fresh id', async () => {
    const memory = createMemoryStore({ clock: () => T0 });
    const base = await start({ secrets: [NEW], store: memory, now: () => T0 });
    const first = await fetch(`${base}/login`);
    const { id: oldId } = (await first.json()) as { id: string };
    const second = await fetch(`${base}/login`, { headers: { cookie: cookieOf(first).split(';')[0]! } });
    const { id: newId } = (await second.json()) as { id: string };
    expect(newId).not.toBe(oldId);
    expect(await memory.get(oldId)).toBeNull();
    expect(await memory.get(newId)).not.toBeNull();
    expect(second.headers.getSetCookie()).toHaveLength(1);
  });

  it('accepts a cookie signed with an older secret of the rotation list', async () => {
    const memory = createMemoryStore({ clock: () => T0 });
    const before = await start({ secrets: [OLD], store: memory, now: () => T0 });
    const cookie = cookieOf(await fetch(`${before}/login`)).split(';')[0]!;
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    const after = await start({ secrets: [NEW, OLD], store: memory, now: () => T0 });
    const body = (await (await fetch(`${after}/read`, { headers: { cookie } })).json()) as { session: unknown };
    expect(body.session).toMatchObject({ user: { sub: 'alice' } });
  });

  it('ends an idle session through the same store read as the proxy', async () => {
    let now = T0;
    const memory = createMemoryStore({ clock: () => now });
    const base = await start({ secrets: [NEW], idleTimeoutSeconds: 60, store: memory, now: () => now });
    const cookie = cookieOf(await fetch(`${base}/login`)).split(';')[0]!;
    now += 61_000;
    const body = (await (await fetch(`${base}/read`, { headers: { cookie } })).json()) as { session: unknown };
    expect(body.session).toBeNull();
  });

  it('agrees with ctx.session when valid refuses a record the store still returned: no live session either', async () => {
    // The store judges expiry by its own clock, koa-session's valid by the gateway's: here they disagree.
    let now = T0;
    const memory = createMemoryStore({ clock: () => T0 });
    const base = await start({ secrets: [NEW], store: memory, now: () => now });
    const cookie = cookieOf(await fetch(`${base}/login`)).split(';')[0]!;
    now += 2 * 3_600_000;
    const body = (await (await fetch(`${base}/read`, { headers: { cookie } })).json()) as { session: unknown; live: unknown };
    expect(body).toMatchObject({ session: null, live: null });
  });

  it('does not load anything on paths it is not mounted on', async () => {
    const base = await start({ secrets: [NEW], store: createMemoryStore({ clock: () => T0 }), now: () => T0 });
    const body = (await (await fetch(`${base}/other`)).json()) as { untouched: boolean };
    expect(body.untouched).toBe(true);
  });

  it('leaves no session and the contract cookie format when the store refuses the new session', async () => {
    const memory = createMemoryStore({ clock: () => T0 });
    const failing: SessionStore = { ...memory, create: () => Promise.reject(new Error('store down')) };
    const base = await start({ secrets: [NEW], store: failing, now: () => T0 });
    const response = await fetch(`${base}/login`);
    expect(response.status).toBe(500);
    expect(response.headers.getSetCookie()).toEqual([expect.stringMatching(/^bff_session=; Path=\/; Max-Age=0; Expires=[^;]+; HttpOnly; SameSite=Lax$/)]);
    expect((await memory.status()).sessions).toBe(0);
  });
});
