import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { InvalidGrantError, ProviderRejectedClientError, ProviderUnavailableError, RefreshUnavailableError, UnauthenticatedError } from '../../../src/errors.js';
import type { OidcClient, TokenResponse } from '../../../src/oidc/oidc-client.js';
import { createTokenRefresher, type RefreshOutcome } from '../../../src/proxy/token-refresher.js';
import { createMemoryStore } from '../../../src/session/memory-store.js';
import type { SessionStore } from '../../../src/session/session-store.js';
import { StoreError } from '../../../src/session/store-error.js';
import { sampleRecord } from '../../support/session-store-contract.js';
import { waitFor } from '../../support/wait-for.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2030-01-01T08:00:00Z');

/** The provider's refresh grant, scripted: each call takes the next answer. */
function scriptedProvider(answers: Array<TokenResponse | Error>) {
  const calls: string[] = [];
  let held: Promise<void> | undefined;
  const oidc: Pick<OidcClient, 'refresh'> = {
    async refresh(refreshToken) {
      calls.push(refreshToken);
      await (held ?? new Promise((resolve) => setTimeout(resolve, 5))); // long enough for others to pile up
      const answer = answers.shift() ?? new Error('no scripted answer left');
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  /** Grants wait until the returned function is called (a test acts while one is under way). */
  const hold = (): (() => void) => {
    let open!: () => void;
    held = new Promise<void>((resolve) => (open = resolve));
    return () => ((held = undefined), open());
  };
  return { oidc, calls, hold };
}

function setup(options: { env?: Record<string, string>; answers: Array<TokenResponse | Error>; store?: SessionStore }) {
  let now = T0;
  const clock = () => now;
  const config = loadConfig({ OIDC_ISSUER: 'https://kc.example/realms/r', OIDC_CLIENT_ID: 'bff', ...options.env });
  const store = options.store ?? createMemoryStore({ clock });
  const provider = scriptedProvider(options.answers);
  const outcomes: RefreshOutcome[] = [];
  const lockWaits: number[] = [];
  const replica = () =>
    createTokenRefresher({
      config, store, oidc: provider.oidc, clock, logger: pino({ level: 'silent' }), pollIntervalMs: 2,
      onOutcome: (o) => outcomes.push(o), onLockWait: (s) => lockWaits.push(s),
    });
  return { store, provider, outcomes, lockWaits, replica, advance: (ms: number) => (now += ms), clock };
}

const fresh = (n: number, extra: Partial<TokenResponse> = {}): TokenResponse => ({
  access_token: `access-${n}`,
  refresh_token: `refresh-${n}`,
  token_type: 'Bearer',
  expires_in: 300,
  ...extra,
});

describe('createTokenRefresher', () => {
  it('refreshes once for many concurrent requests on two replicas, even with a skew longer than the token lifetime', async () => {
    // Every token "needs" a refresh under this skew: only the stale-token check keeps it to one grant.
    const t = setup({ env: { TOKEN_REFRESH_SKEW_SECONDS: '3600' }, answers: [fresh(1), fresh(2)] });
    const record = sampleRecord(T0);
    await t.store.create(record);
    const [a, b] = [t.replica(), t.replica()];
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).ensureFresh(record)));
    expect(t.provider.calls).toEqual([record.tokens.refresh_token]);
    expect(new Set(results.map((r) => r.tokens.access_token))).toEqual(new Set(['access-1']));
    expect((await t.store.get(record.id))?.tokens.refresh_token).toBe('refresh-1');
  });

  it("reports the wait for another replica's refresh also when its tokens turn up only once the lock is ours", async () => {
    // The holder stores its tokens and lets go of the lock between this replica's read (still stale) and its
    // next attempt: the lock is taken, the tokens are found, and that was a wait all the same (outcome reused).
    const memory = createMemoryStore({ clock: () => T0 });
    let between: (() => Promise<void>) | undefined;
    const store: SessionStore = Object.assign(Object.create(memory) as SessionStore, {
      async get(id: string) {
        const seen = await memory.get(id);
        const act = between;
        between = undefined;
        await act?.();
        return seen;
      },
    });
    const t = setup({ answers: [], store });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await memory.create(record);
    const holder = (await memory.acquireLock(record.id, 10_000))!;
    between = async () => {
      t.advance(50);
      await memory.update(record.id, { tokens: { ...record.tokens, access_token: 'access-other', access_expires_at_ms: T0 + HOUR } });
      await holder.release();
    };
    const result = await t.replica().ensureFresh(record);
    expect(result.tokens.access_token).toBe('access-other');
    expect(t.provider.calls).toEqual([]);
    expect(t.outcomes).toEqual(['reused']);
    expect(t.lockWaits).toEqual([0.05]);
  });

  it('keeps the login acr and auth_time across a refresh, and takes them from a refreshed ID token that states them', async () => {
    const t = setup({ answers: [fresh(1), fresh(2, { id_token: 'id-2', id_token_claims: { sub: 's', acr: '2', auth_time: T0 / 1000 + 60 } })] });
    const record = sampleRecord(T0, { acr: '1', auth_time_ms: T0, tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await t.store.create(record);
    const kept = await t.replica().ensureFresh(record);
    expect(kept).toMatchObject({ acr: '1', auth_time_ms: T0 });
    t.advance(10 * 60_000);
    const restated = await t.replica().ensureFresh((await t.store.get(record.id))!);
    expect(restated.tokens.access_token).toBe('access-2');
    expect(restated).toMatchObject({ acr: '2', auth_time_ms: T0 + 60_000 });
  });

  it('never sets the session end past the absolute lifetime, and caps it by refresh_expires_in', async () => {
    const t = setup({ answers: [fresh(1, { refresh_expires_in: 1800 }), fresh(2, { refresh_expires_in: 24 * 3600 })] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await t.store.create(record);
    const capped = await t.replica().ensureFresh(record);
    expect(capped.expires_at_ms).toBe(T0 + 1800_000);
    t.advance(20 * 60_000); // the access token is due again, the session still alive
    const later = await t.replica().ensureFresh((await t.store.get(record.id))!);
    expect(later.tokens.access_token).toBe('access-2');
    // now + 24 h would outlive SESSION_TTL_SECONDS: the absolute end wins.
    expect(later.expires_at_ms).toBe(T0 + 8 * HOUR);
  });

  it('ends the session on invalid_grant and keeps it on anything else', async () => {
    const t = setup({ answers: [new ProviderUnavailableError(), new InvalidGrantError()] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await t.store.create(record);
    await expect(t.replica().ensureFresh(record)).rejects.toBeInstanceOf(RefreshUnavailableError);
    expect(await t.store.get(record.id)).not.toBeNull();
    t.advance(1_000); // past the back-off of the first failure
    await expect(t.replica().ensureFresh((await t.store.get(record.id))!)).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(await t.store.get(record.id)).toBeNull();
    expect(t.outcomes).toEqual(['unavailable', 'invalid_grant']);
  });

  it('ends the session on any refusal the provider words otherwise (any 400)', async () => {
    const t = setup({ answers: [new InvalidGrantError(undefined, 'invalid_request')] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await t.store.create(record);
    await expect(t.replica().ensureFresh(record)).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(await t.store.get(record.id)).toBeNull();
  });

  it('after a failure, backs off on every replica: 1 s, doubling, up to 30 s; nothing is asked of the provider meanwhile', async () => {
    const down = () => new ProviderUnavailableError();
    const t = setup({ answers: [down(), down(), down(), down(), down(), down(), down(), fresh(1)] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await t.store.create(record);
    const current = async () => (await t.store.get(record.id))!;
    const [a, b] = [t.replica(), t.replica()];
    const expectedWaits = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    for (const wait of expectedWaits) {
      await expect(a.ensureFresh(await current())).rejects.toBeInstanceOf(RefreshUnavailableError);
      const calls = t.provider.calls.length;
      t.advance(wait - 1);
      // The other replica learns of the back-off from the session record.
      await expect(b.ensureFresh(await current())).rejects.toBeInstanceOf(RefreshUnavailableError);
      expect(t.provider.calls.length).toBe(calls);
      t.advance(1);
    }
    const refreshed = await b.ensureFresh(await current());
    expect(refreshed.tokens.access_token).toBe('access-1');
    expect((await current()).refresh_backoff).toBeUndefined();
    expect(t.outcomes.filter((o) => o === 'backoff')).toHaveLength(expectedWaits.length);
  });

  it('forwards with the current access token while it has not expired, when the refresh is unavailable', async () => {
    const t = setup({ answers: [new ProviderUnavailableError()] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 + 10_000 } });
    await t.store.create(record);
    const replica = t.replica();
    expect((await replica.ensureFresh(record)).tokens.access_token).toBe(record.tokens.access_token);
    // Backing off: still the current token, and no second grant.
    expect((await replica.ensureFresh((await t.store.get(record.id))!)).tokens.access_token).toBe(record.tokens.access_token);
    expect(t.provider.calls).toHaveLength(1);
    t.advance(10_000); // expired now: nothing left to forward with
    await expect(replica.ensureFresh((await t.store.get(record.id))!)).rejects.toBeInstanceOf(RefreshUnavailableError);
  });

  it('answers a request at OIDC_TIMEOUT_MS while the grant goes on, and stores its rotated tokens when they come: one grant, no session lost', async () => {
    // A provider swamped by a herd of expiries answers late. Abandoning the grant would lose the session:
    // the provider has spent the old refresh token, and the next attempt would be refused as a reuse.
    const t = setup({ env: { OIDC_TIMEOUT_MS: '100' }, answers: [fresh(1)] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await t.store.create(record);
    const open = t.provider.hold();
    const [a, b] = [t.replica(), t.replica()];
    await expect(a.ensureFresh(record)).rejects.toBeInstanceOf(RefreshUnavailableError);
    // The other replica finds the lock held by the grant under way: it waits for its tokens, and sends no grant of its own.
    const waiting = b.ensureFresh(record);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(t.provider.calls).toEqual([record.tokens.refresh_token]);
    open();
    expect((await waiting).tokens.access_token).toBe('access-1');
    await waitFor(async () => (await t.store.get(record.id))?.tokens.refresh_token === 'refresh-1', { what: 'the late tokens to be stored' });
    expect(t.provider.calls).toHaveLength(1);
  });

  it('keeps the session when the provider refuses our client credentials (401/403), and says so at error level', async () => {
    const lines: Array<{ level: number; provider_error?: string; provider_error_description?: string; msg: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const t = setup({ answers: [new ProviderRejectedClientError({ status: 401, error: 'invalid_client', description: 'bad secret' })] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await t.store.create(record);
    await expect(t.replica().ensureFresh(record, () => logger)).rejects.toBeInstanceOf(RefreshUnavailableError);
    expect(await t.store.get(record.id)).not.toBeNull();
    expect(t.outcomes).toEqual(['client_rejected']);
    expect(lines.find((l) => l.level === 50)).toMatchObject({ provider_error: 'invalid_client', provider_error_description: 'bad secret' });
    expect(lines.map((l) => l.msg).join(' ')).not.toMatch(/login/);
  });

  it('answers refresh_unavailable, not "no session", when the store fails mid-refresh', async () => {
    let failLocks = true;
    const base = createMemoryStore({ clock: () => T0 });
    const store: SessionStore = {
      ...base,
      acquireLock: (id, ttl) => (failLocks ? Promise.reject(new StoreError('redis SET NX failed')) : base.acquireLock(id, ttl)),
    };
    const t = setup({ store, answers: [fresh(1)] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await base.create(record);
    await expect(t.replica().ensureFresh(record)).rejects.toBeInstanceOf(RefreshUnavailableError);
    expect(await base.get(record.id)).not.toBeNull();
    failLocks = false;
    expect((await t.replica().ensureFresh(record)).tokens.access_token).toBe('access-1');
  });

  it('retries writing rotated tokens through a store hiccup: the old refresh token is spent', async () => {
    const base = createMemoryStore({ clock: () => T0 });
    let updateFailures = 2;
    const store: SessionStore = {
      ...base,
      update: (id, change) => (updateFailures-- > 0 ? Promise.reject(new StoreError('redis update failed')) : base.update(id, change)),
    };
    const t = setup({ store, answers: [fresh(1)] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await base.create(record);
    const refreshed = await t.replica().ensureFresh(record);
    expect(refreshed.tokens.refresh_token).toBe('refresh-1');
    expect((await base.get(record.id))?.tokens.refresh_token).toBe('refresh-1');
  });

  it('discards new tokens when the session was deleted during the refresh', async () => {
    const t = setup({ answers: [fresh(1)] });
    const record = sampleRecord(T0, { tokens: { ...sampleRecord(T0).tokens, access_expires_at_ms: T0 } });
    await t.store.create(record);
    const release = t.provider.hold();
    const pending = t.replica().ensureFresh(record);
    await waitFor(() => t.provider.calls.length === 1, { what: 'the grant on its way to the provider' });
    await t.store.delete(record.id);
    release();
    await expect(pending).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(await t.store.get(record.id)).toBeNull();
    expect(t.outcomes).toEqual(['lost_race']);
  });
});
