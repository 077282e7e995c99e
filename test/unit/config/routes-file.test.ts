import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/load-config.js';
import { parseRoutesFile } from '../../../src/config/routes-file.js';

const base = { OIDC_ISSUER: 'https://kc.example/realms/demo', OIDC_CLIENT_ID: 'bff', OIDC_CLIENT_SECRET: 'secret' };

function load(files: Record<string, string>, env: Record<string, string> = {}) {
  return loadConfig({ ...base, ROUTES_FILE: 'routes.yaml', ...env }, {
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`);
      return text;
    },
  });
}

function problemsOf(files: Record<string, string>, env: Record<string, string> = {}): string[] {
  try {
    load(files, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

const FULL = `
routes:
  - prefix: /public
    target: http://127.0.0.1:9001
    auth: none
    token: none
  - prefix: /api
    target: http://127.0.0.1:9002/base
  - prefix: /api/admin
    target: http://127.0.0.1:9003
    roles: { anyOf: [admin, "bff:bff-admin"] }
    userHeaders: [X-User-Sub, X-User-Roles]
    timeoutMs: 5000
    stripPrefix: false
  - prefix: /orders
    target: http://127.0.0.1:9004
    auth: optional
    token: { type: exchange, audience: orders-api, scope: orders }
    csrf: false
    websocket: false
  - prefix: /reports
    target: http://127.0.0.1:9005
    token: client
`;

describe('ROUTES_FILE', () => {
  it('reads every field, fills the defaults and sorts longest prefix first', () => {
    const config = load({ 'routes.yaml': FULL }, { PROXY_ROUTES: '/legacy=http://127.0.0.1:9006' });
    const prefixes = config.proxy.routes.map((r) => r.prefix);
    expect([...prefixes].sort()).toEqual(['/api', '/api/admin', '/legacy', '/orders', '/public', '/reports']);
    expect(prefixes.map((p) => p.length)).toEqual(prefixes.map((p) => p.length).sort((a, b) => b - a));
    const byPrefix = new Map(config.proxy.routes.map((r) => [r.prefix, r]));
    expect(byPrefix.get('/public')?.policy).toMatchObject({ auth: 'none', token: { type: 'none' }, csrf: true, websocket: true, stripPrefix: true });
    expect(byPrefix.get('/api/admin')?.policy).toEqual({
      auth: 'required',
      token: { type: 'user' },
      roles: { anyOf: ['admin', 'bff:bff-admin'] },
      userHeaders: ['X-User-Sub', 'X-User-Roles'],
      timeoutMs: 5000,
      stripPrefix: false,
      csrf: true,
      websocket: true,
      dpop: false,
      defaultAccess: false,
    });
    expect(byPrefix.get('/orders')?.policy).toMatchObject({
      auth: 'optional',
      token: { type: 'exchange', audience: 'orders-api', scope: 'orders' },
      csrf: false,
      websocket: false,
    });
    expect(byPrefix.get('/reports')?.policy?.token).toEqual({ type: 'client' });
    expect(byPrefix.get('/public')?.policy?.defaultAccess).toBe(false);
    expect(byPrefix.get('/api')?.target.href).toBe('http://127.0.0.1:9002/base');
  });

  it('gives a route with only defaults no policy at all, like a PROXY_ROUTES entry (the fast path)', () => {
    const config = load({ 'routes.yaml': FULL }, { PROXY_ROUTES: '/legacy=http://127.0.0.1:9006' });
    const byPrefix = new Map(config.proxy.routes.map((r) => [r.prefix, r]));
    expect(byPrefix.get('/api')).not.toHaveProperty('policy');
    expect(byPrefix.get('/legacy')).not.toHaveProperty('policy');
  });

  it('dpop: true (with OIDC_DPOP) takes the policy path even with otherwise default access', () => {
    const config = load({ 'routes.yaml': 'routes:\n  - prefix: /bank\n    target: http://127.0.0.1:9\n    dpop: true\n' }, { OIDC_DPOP: 'true' });
    expect(config.oidc.dpop).toBe(true);
    expect(config.proxy.routes[0]?.policy).toMatchObject({ dpop: true, defaultAccess: false });
  });

  it('dpop: true while OIDC_DPOP is off is a start-up error naming the route and field', () => {
    expect(problemsOf({ 'routes.yaml': 'routes:\n  - prefix: /bank\n    target: http://127.0.0.1:9\n    dpop: true\n' })).toEqual([
      'ROUTES_FILE routes.yaml: route "/bank" field dpop: needs OIDC_DPOP=true (sessions hold no DPoP key otherwise)',
    ]);
  });

  it('dpop: true with a token other than the user\'s is refused: only that one is bound to the session key', () => {
    const problems = problemsOf(
      { 'routes.yaml': 'routes:\n  - prefix: /bank\n    target: http://127.0.0.1:9\n    dpop: true\n    token: client\n' },
      { OIDC_DPOP: 'true' },
    );
    expect(problems).toEqual(['ROUTES_FILE routes.yaml: route "/bank" field dpop: only token user is bound to the session\'s DPoP key (got token client)']);
  });

  it('reads JSON as well', () => {
    const config = load({ 'routes.yaml': JSON.stringify({ routes: [{ prefix: '/p', target: 'http://127.0.0.1:1', auth: 'none', token: 'none' }] }) });
    expect(config.proxy.routes[0]?.policy?.auth).toBe('none');
  });

  it('reports one line per problem, naming the route and the field', () => {
    const problems = problemsOf({
      'routes.yaml': `
routes:
  - prefix: /a
    target: http://127.0.0.1:1
    auth: sometimes
  - prefix: /b
    target: http://127.0.0.1:2
    token: { type: exchange }
  - prefix: /c
    target: ftp://127.0.0.1/x
    roles: { anyOf: [] }
  - prefix: /d
    target: http://127.0.0.1:4
    timeoutMs: fast
    userHeaders: [X-User-Password]
    colour: blue
  - target: http://127.0.0.1:5
`,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'ROUTES_FILE routes.yaml: route "/a" field auth: must be one of required, optional, none (got "sometimes")',
        expect.stringMatching(/^ROUTES_FILE routes\.yaml: route "\/b" field token: must be user, none, client, \{type: exchange, audience/),
        expect.stringMatching(/^ROUTES_FILE routes\.yaml: route "\/c" field roles\.anyOf: must NOT have fewer than 1 items/),
        expect.stringMatching(/^ROUTES_FILE routes\.yaml: route "\/d" field timeoutMs: must be integer/),
        expect.stringMatching(/^ROUTES_FILE routes\.yaml: route "\/d" field userHeaders\.0: must be one of X-User-Sub, X-User-Email, X-User-Roles/),
        'ROUTES_FILE routes.yaml: route "/d": unknown field "colour"',
        'ROUTES_FILE routes.yaml: route #5 field prefix: is required',
      ]),
    );
    expect(problems.filter((p) => p.includes('route "/b"'))).toHaveLength(1);
  });

  it('checks prefixes and targets with the PROXY_ROUTES rules, and duplicates across both', () => {
    const problems = problemsOf(
      {
        'routes.yaml': `
routes:
  - { prefix: /auth/x, target: "http://127.0.0.1:1" }
  - { prefix: /api, target: "http://127.0.0.1:2" }
  - { prefix: /t, target: "ftp://127.0.0.1:3" }
  - { prefix: /t2, target: "http://127.0.0.1:3", roles: { allOf: [admin] }, auth: optional }
  - { prefix: /t3, target: "http://127.0.0.1:3", auth: none }
`,
      },
      { PROXY_ROUTES: '/api=http://127.0.0.1:9' },
    );
    expect(problems).toEqual([
      'ROUTES_FILE routes.yaml: route "/auth/x" field prefix: prefix "/auth/x" would shadow the gateway\'s own /auth routes',
      'ROUTES_FILE routes.yaml: route "/t" field target: target of /t must be http:// or https://',
      'ROUTES_FILE routes.yaml: route "/t2" field roles: a role check needs auth: required (got auth: optional)',
      'ROUTES_FILE routes.yaml: route "/t3" field token: auth: none has no user, so token user cannot be sent (use none or client)',
    ]);
    expect(problemsOf({ 'routes.yaml': 'routes:\n  - { prefix: /api, target: "http://127.0.0.1:2" }\n' }, { PROXY_ROUTES: '/api=http://127.0.0.1:9' })).toEqual([
      'ROUTES_FILE routes.yaml: route "/api" field prefix: also in PROXY_ROUTES',
    ]);
  });

  it('needs a confidential client for client credentials and token exchange', () => {
    const problems = problemsOf({ 'routes.yaml': 'routes:\n  - { prefix: /r, target: "http://127.0.0.1:2", token: client }\n' }, { OIDC_CLIENT_SECRET: '' });
    expect(problems).toEqual(['ROUTES_FILE routes.yaml: route "/r" field token: client needs a confidential client (OIDC_CLIENT_SECRET)']);
  });

  it('reports an unreadable or malformed file in one line', () => {
    expect(problemsOf({})).toEqual([expect.stringMatching(/^ROUTES_FILE routes\.yaml: cannot be read: ENOENT/)]);
    expect(problemsOf({ 'routes.yaml': 'routes: [\n' })).toEqual([expect.stringMatching(/^ROUTES_FILE routes\.yaml: is not valid YAML or JSON: /)]);
    expect(problemsOf({ 'routes.yaml': 'routes: 3\n' })).toEqual(['ROUTES_FILE routes.yaml: /routes: must be array (got 3)']);
  });

  it('reads a step-up route (acr, maxAuthAgeSeconds) as one with its own access work', () => {
    const config = load({
      'routes.yaml': `
routes:
  - prefix: /payments
    target: http://127.0.0.1:9001
    acr: ["2", "urn:example:loa:high"]
    maxAuthAgeSeconds: 300
`,
    });
    expect(config.proxy.routes[0]?.policy).toMatchObject({
      auth: 'required',
      acr: ['2', 'urn:example:loa:high'],
      maxAuthAgeSeconds: 300,
      defaultAccess: false,
    });
  });

  it('refuses step-up fields that cannot work, one line each naming the route and the field', () => {
    const problems = problemsOf({
      'routes.yaml': `
routes:
  - prefix: /maybe
    target: http://127.0.0.1:1
    auth: optional
    acr: ["2"]
  - prefix: /open
    target: http://127.0.0.1:2
    auth: none
    token: none
    maxAuthAgeSeconds: 60
`,
    });
    expect(problems).toEqual([
      'ROUTES_FILE routes.yaml: route "/maybe" field acr: a step-up check needs auth: required (got auth: optional)',
      'ROUTES_FILE routes.yaml: route "/open" field maxAuthAgeSeconds: a step-up check needs auth: required (got auth: none)',
    ]);
    const malformed = problemsOf({
      'routes.yaml': `
routes:
  - prefix: /odd
    target: http://127.0.0.1:3
    acr: ["level 2", 'say "2"']
    maxAuthAgeSeconds: 0
  - prefix: /empty
    target: http://127.0.0.1:4
    acr: []
`,
    });
    expect(malformed).toEqual(
      expect.arrayContaining([
        'ROUTES_FILE routes.yaml: route "/odd" field acr.0: must be printable ASCII without spaces, quotes or backslashes (got "level 2")',
        'ROUTES_FILE routes.yaml: route "/odd" field acr.1: must be printable ASCII without spaces, quotes or backslashes (got "say \\"2\\"")',
        expect.stringMatching(/^ROUTES_FILE routes\.yaml: route "\/odd" field maxAuthAgeSeconds: must be >= 1/),
        expect.stringMatching(/^ROUTES_FILE routes\.yaml: route "\/empty" field acr: must NOT have fewer than 1 items/),
      ]),
    );
  });

  it('parses without a file system (parseRoutesFile)', () => {
    expect(parseRoutesFile('routes: []\n')).toEqual({ routes: [], problems: [] });
  });
});

describe('schema/routes.schema.json', () => {
  it('is the schema the gateway validates with (editors and start-up agree)', async () => {
    const { readFileSync } = await import('node:fs');
    const { routesSchema } = await import('../../../src/config/routes-schema.js');
    expect(JSON.parse(readFileSync(new URL('../../../schema/routes.schema.json', import.meta.url), 'utf8'))).toEqual(routesSchema);
  });
});
