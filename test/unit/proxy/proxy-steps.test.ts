import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import type { Upstream } from '../../../src/proxy/forward-request.js';
import { createProxySteps, type ProxyDeps } from '../../../src/proxy/proxy-middleware.js';
import { matchProxyRoute } from '../../../src/proxy/proxy-path.js';
import type { SessionRecord } from '../../../src/session/session-store.js';

const config = loadConfig({ OIDC_ISSUER: 'https://kc.example/realms/r', OIDC_CLIENT_ID: 'bff', PROXY_ROUTES: '/api=http://127.0.0.1:9' });

function stepsWith(sent: unknown[], refresher: { needsRefresh: () => boolean } = { needsRefresh: () => false }) {
  const upstream: Upstream = {
    forward: (input) => {
      sent.push(input);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  // Only what forward() reads: the session and token steps are not on this path.
  return createProxySteps({ config, upstream, refresher, isGatewayCookie: () => false, isForwardedCookie: () => false, clock: Date.now } as unknown as ProxyDeps);
}

const match = () => {
  const found = matchProxyRoute(config.proxy.routes, '/api/orders/7');
  if (found.kind !== 'match') throw new Error('no match');
  return found;
};
const request = (destroyed: boolean) =>
  ({ method: 'DELETE', url: '/api/orders/7', headers: {}, socket: { destroyed, remoteAddress: '127.0.0.1' } }) as unknown as IncomingMessage;
const response = {} as ServerResponse;

describe('the proxy steps: forward', () => {
  it('sends nothing upstream for a client that left while its session was read or refreshed', async () => {
    const sent: unknown[] = [];
    await stepsWith(sent).forward(request(true), response, 'rid', match(), { accessToken: 'at' });
    expect(sent).toEqual([]);
  });

  it('sends the request of a client still there', async () => {
    const sent: unknown[] = [];
    await stepsWith(sent).forward(request(false), response, 'rid', match(), { accessToken: 'at' });
    expect(sent).toHaveLength(1);
  });

  it('rejects, never throws, when the session carries an unusable DPoP key: the error gets answered', async () => {
    const unusable = { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', d: 'AAAA' } as const;
    let result: Promise<void> | undefined;
    expect(() => {
      result = stepsWith([]).forward(request(false), response, 'rid', match(), { accessToken: 'at', dpopKey: unusable });
    }).not.toThrow();
    await expect(result).rejects.toThrow();
  });
});

describe('the proxy steps: a cached session forwarded at once (accessNow)', () => {
  const session = (accessToken: string) => ({ sub: 'u', tokens: { access_token: accessToken } }) as unknown as SessionRecord;
  const sentAuthorization = async (steps: ReturnType<typeof stepsWith>, sent: { headers: Record<string, string> }[], record: SessionRecord) => {
    await steps.forward(request(false), response, 'rid', match(), steps.accessNow(undefined, record)!);
    return sent.at(-1)!.headers['authorization'];
  };

  it("sends the session's current token: a refreshed session (new tokens) never gets the old one", async () => {
    const sent: { headers: Record<string, string> }[] = [];
    const steps = stepsWith(sent);
    const before = session('token-before');
    expect(await sentAuthorization(steps, sent, before)).toBe('Bearer token-before');
    expect(await sentAuthorization(steps, sent, before)).toBe('Bearer token-before');
    // The refresher writes a new record with new tokens; the cache then holds that one.
    expect(await sentAuthorization(steps, sent, session('token-after'))).toBe('Bearer token-after');
    // Made once per token set: the same answer for the same tokens.
    expect(steps.accessNow(undefined, before)).toBe(steps.accessNow(undefined, before));
  });

  it('leaves a session whose token needs a refresh to the refresher', () => {
    expect(stepsWith([], { needsRefresh: () => true }).accessNow(undefined, session('t'))).toBeUndefined();
  });
});
