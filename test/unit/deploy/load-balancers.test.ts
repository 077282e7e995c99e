import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../../../src/config/env-schema.js';
import { readRepoFile, repoPath } from '../../support/deploy-files.js';
import { onPath } from '../../support/deploy-tools.js';

const PUBLIC_PORT = envSchema.PORT.default;
const ADMIN_PORT = envSchema.ADMIN_PORT.default;
/** Config text without comments, so explanations do not satisfy or trip the checks. */
const stripComments = (text: string) => text.split('\n').map((l) => l.replace(/#.*$/, '')).join('\n');

describe('deploy/nginx/nginx.conf', () => {
  const conf = stripComments(readRepoFile('deploy/nginx/nginx.conf'));
  const upstream = /upstream\s+\S+\s*\{([^}]*)\}/.exec(conf)?.[1] ?? '';

  it('balances round robin across the gateways without stickiness', () => {
    expect(upstream).toMatch(/server\s+\S+/);
    expect(upstream).not.toMatch(/\b(ip_hash|hash|sticky|least_conn|random)\b/);
  });

  it('proxies only to the public port, never to the admin port', () => {
    const servers = [...upstream.matchAll(/server\s+(\S+)/g)].map((m) => m[1]!);
    for (const s of servers) expect(s).toMatch(new RegExp(`:${PUBLIC_PORT}$`));
    expect(conf).not.toContain(`:${ADMIN_PORT}`);
  });

  it('sets the X-Forwarded-* headers', () => {
    for (const h of ['X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host']) {
      expect(conf).toMatch(new RegExp(`proxy_set_header\\s+${h}\\s+\\S+;`));
    }
  });

  it('passes WebSocket upgrades through', () => {
    expect(conf).toMatch(/proxy_http_version\s+1\.1;/);
    expect(conf).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade;/);
    expect(conf).toMatch(/proxy_set_header\s+Connection\s+\$connection_upgrade;/);
    expect(conf).toMatch(/map\s+\$http_upgrade\s+\$connection_upgrade/);
  });

  it('does not retry a request another replica may already have run', () => {
    expect(conf).toMatch(/proxy_next_upstream\s+error;/);
  });
});

describe('deploy/haproxy/haproxy.cfg', () => {
  const cfg = stripComments(readRepoFile('deploy/haproxy/haproxy.cfg'));
  const backend = /\nbackend\s+\S+([\s\S]*?)(?=\n(?:frontend|backend|listen|defaults|resolvers|global)\b|$)/.exec(cfg)?.[1] ?? '';
  const frontends = [...cfg.matchAll(/\n(?:frontend|listen)\s+\S+([\s\S]*?)(?=\n(?:frontend|backend|listen|defaults|resolvers|global)\b|$)/g)].map((m) => m[1]!);

  it('balances round robin without stickiness', () => {
    expect(backend).toMatch(/balance\s+roundrobin/);
    expect(backend).not.toMatch(/^\s*(cookie|stick|stick-table)\b/m);
    expect(backend).not.toMatch(/balance\s+(source|uri|hdr)/);
  });

  it('serves only the public port; the admin port is used for health checks alone', () => {
    const servers = [...backend.matchAll(/^\s*server(?:-template)?\s+\S+(?:\s+\d+)?\s+(\S+)/gm)].map((m) => m[1]!);
    expect(servers.length).toBeGreaterThan(0);
    for (const s of servers) expect(s).toMatch(new RegExp(`:${PUBLIC_PORT}$`));
    expect(backend).toMatch(new RegExp(`check port ${ADMIN_PORT}`));
    expect(backend).toMatch(/http-check send meth GET uri \/readyz/);
    for (const f of frontends) expect(f).not.toMatch(new RegExp(`bind\\s+\\S*:${ADMIN_PORT}\\b`));
  });

  it('sets the X-Forwarded-* headers', () => {
    expect(backend).toMatch(/option\s+forwardfor/);
    expect(cfg).toMatch(/set-header X-Forwarded-Proto/);
    expect(cfg).toMatch(/set-header X-Forwarded-Host/);
  });

  it('keeps upgraded (WebSocket) connections open', () => {
    expect(cfg).toMatch(/timeout\s+tunnel\s+\S+/);
  });

  it('resends a request whose kept-alive connection closed under it, on another replica, only for safe methods', () => {
    const retryOn = /^\s*retry-on\s+(.+)$/m.exec(cfg)?.[1]?.split(/\s+/) ?? [];
    expect(retryOn).toEqual(expect.arrayContaining(['conn-failure', 'empty-response']));
    expect(cfg).toMatch(/option\s+redispatch/);
    expect(backend).toMatch(/http-request\s+disable-l7-retry\s+unless\s+METH_GET\s+\|\|\s+METH_HEAD\b/);
  });

  it('takes a replica whose /readyz turned 503 out within the gateways\' SHUTDOWN_DELAY_MS (5 s)', () => {
    const line = /^\s*default-server\s+(.+)$/m.exec(backend)?.[1] ?? '';
    const ms = (name: string) => {
      const m = new RegExp(`\\b${name}\\s+(\\d+)(ms|s)\\b`).exec(line);
      return m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : undefined;
    };
    const inter = ms('inter') ?? 2000;
    const fall = Number(/\bfall\s+(\d+)/.exec(line)?.[1] ?? 3);
    // After the first failed check the next ones come every fastinter (default: inter).
    const outWithinMs = inter + (fall - 1) * (ms('fastinter') ?? inter);
    expect(outWithinMs).toBeLessThan(5000);
  });

  it.skipIf(!onPath('haproxy'))('passes haproxy -c (skipped: haproxy is not on PATH)', () => {
    expect(() => execFileSync('haproxy', ['-c', '-q', '-f', repoPath('deploy/haproxy/haproxy.cfg')], { stdio: 'pipe' })).not.toThrow();
  });
});
