import { describe, expect, it } from 'vitest';
import { parseForwardCookies } from '../../../src/config/parse-forward-cookies.js';
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../../../src/proxy/forward-headers.js';
import { forwardedCookieMatcher } from '../../../src/proxy/gateway-cookies.js';

const isGatewayCookie = (name: string) => name === 'bff_session' || name.startsWith('bff_session_tx_');
const base = {
  accessToken: 'AT',
  isGatewayCookie,
  peerAddress: '::ffff:10.0.0.9',
  publicUrl: new URL('https://app.example'),
  requestId: 'req-1',
};

describe('upstreamRequestHeaders', () => {
  it('always drops incoming X-User-*; sends no Authorization without a token, and only the user headers the route gives', () => {
    const incoming = { 'x-user-sub': 'root', 'x-user-email': 'root@evil.test', 'x-user-roles': 'admin', authorization: 'Bearer forged', accept: '*/*' };
    const none = upstreamRequestHeaders({ ...base, accessToken: undefined, trustProxy: false, incoming });
    expect(Object.keys(none).filter((n) => n.startsWith('x-user-') || n === 'authorization')).toEqual([]);
    const given = upstreamRequestHeaders({ ...base, trustProxy: false, incoming, userHeaders: { 'x-user-sub': 'u-1' } });
    expect(given).toMatchObject({ authorization: 'Bearer AT', 'x-user-sub': 'u-1' });
    expect(given['x-user-email']).toBeUndefined();
    expect(given['x-user-roles']).toBeUndefined();
  });

  it("drops the browser's own DPoP header: only the gateway's proof may reach an upstream", () => {
    const headers = upstreamRequestHeaders({ ...base, trustProxy: false, incoming: { dpop: 'eyJ.forged.proof', accept: '*/*' } });
    expect(headers['dpop']).toBeUndefined();
    expect(headers['accept']).toBe('*/*');
  });

  it('adds the bearer token, drops the client Authorization, hop-by-hop headers and only the gateway cookies', () => {
    const headers = upstreamRequestHeaders({
      ...base,
      trustProxy: false,
      incoming: {
        host: 'app.example',
        authorization: 'Bearer forged',
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': '1',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        expect: '100-continue',
        cookie: 'bff_session=abc.def; theme=dark; bff_session_tx_12345678=xyz; lang=en',
        'x-forwarded-for': '6.6.6.6',
        accept: 'application/json',
      },
    });
    expect(headers).toEqual({
      accept: 'application/json',
      cookie: 'theme=dark; lang=en',
      authorization: 'Bearer AT',
      'x-request-id': 'req-1',
      'x-forwarded-for': '10.0.0.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'app.example',
    });
  });

  it('keeps the forwarded chain and appends the peer only with TRUST_PROXY', () => {
    const headers = upstreamRequestHeaders({
      ...base,
      trustProxy: true,
      incoming: { 'x-forwarded-for': '1.2.3.4, 10.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'lb.example' },
    });
    expect(headers['x-forwarded-for']).toBe('1.2.3.4, 10.0.0.1, 10.0.0.9');
    expect(headers['x-forwarded-host']).toBe('lb.example');
    expect(headers['cookie']).toBeUndefined();
  });

  it.each([
    ['all', 'theme=dark; lemonldap=portal; lang=en'],
    ['none', undefined],
    ['theme, lang', 'theme=dark; lang=en'],
    ['bff_session,theme', 'theme=dark'],
  ])('PROXY_FORWARD_COOKIES=%s sends upstream only those cookies, never the gateway\'s', (setting, expected) => {
    const { forwardCookies, problems } = parseForwardCookies(setting);
    expect(problems).toEqual([]);
    const headers = upstreamRequestHeaders({
      ...base,
      trustProxy: false,
      isForwardedCookie: forwardedCookieMatcher(forwardCookies),
      incoming: { cookie: 'bff_session=abc.def; theme=dark; lemonldap=portal; lang=en' },
    });
    expect(headers['cookie']).toBe(expected);
  });
});

describe('downstreamResponseHeaders', () => {
  it('drops hop-by-hop headers and Set-Cookie for gateway cookie names, keeps the rest', () => {
    expect(
      downstreamResponseHeaders(
        {
          'content-type': 'application/json',
          'transfer-encoding': 'chunked',
          connection: 'close',
          'set-cookie': ['bff_session=stolen; Path=/', 'app=1; Path=/', 'bff_session_tx_abcd1234=x'],
        },
        isGatewayCookie,
      ),
    ).toEqual({ 'content-type': 'application/json', 'set-cookie': ['app=1; Path=/'] });
  });

  it('keeps the host-wide and gateway-owned headers out of an upstream answer: HSTS, Clear-Site-Data, X-Request-Id', () => {
    const headers = downstreamResponseHeaders(
      { 'strict-transport-security': 'max-age=0', 'clear-site-data': '"cookies"', 'x-request-id': 'upstream-own', 'x-frame-options': 'SAMEORIGIN' },
      isGatewayCookie,
    );
    expect(headers).toEqual({ 'x-frame-options': 'SAMEORIGIN' });
  });

  it.each([
    ['a nameless cookie carrying ours', '=bff_session=attacker-session; Path=/api; Max-Age=9999'],
    ['a nameless cookie without =', 'bff_session; Path=/'],
    ['ours with spaces around the name', ' bff_session =x; Path=/'],
    ['ours, the = after an attribute', 'bff_session; x=1'],
  ])('never lets an upstream set a cookie a browser would send back as the gateway cookie: %s', (_, setCookie) => {
    // Browsers send an empty-named cookie back as its bare value, "bff_session=attacker-session": session fixation.
    const headers = downstreamResponseHeaders({ 'set-cookie': [setCookie, 'app=1'] }, isGatewayCookie);
    expect(headers['set-cookie']).toEqual(['app=1']);
  });

  it.each([
    ['one name', 'X-Upstream-Hop', ['x-other']],
    ['one name among the usual', 'keep-alive, X-Upstream-Hop', ['x-other']],
    ['only the usual', ' Keep-Alive ', ['x-other', 'x-upstream-hop']],
  ])('drops the headers its Connection header lists (%s)', (_kind, connection, kept) => {
    const headers = downstreamResponseHeaders({ connection, 'x-upstream-hop': '1', 'x-other': '2', 'keep-alive': 'timeout=5' }, isGatewayCookie);
    expect(Object.keys(headers).sort()).toEqual(kept);
  });
});
