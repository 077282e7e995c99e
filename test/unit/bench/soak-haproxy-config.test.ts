import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haproxyConfig } from '../../../bench/soak/haproxy-config.js';
import { onPath } from '../../support/deploy-tools.js';

const servers = [
  { name: 'gateway1a', port: 13001, adminPort: 19001 },
  { name: 'gateway1b', port: 13002, adminPort: 19002 },
];
const input = { bindPort: 18080, servers, statsSocket: '/tmp/soak-test.sock' };

// The soak exercises the shipped HAProxy config: a change to it that the soak can no longer adapt must show up here, not at the next soak.
describe('the soak HAProxy config, generated from deploy/haproxy/haproxy.cfg', () => {
  const cfg = haproxyConfig(input);

  it('keeps the shipped balancing, checks and retries, with loopback servers on their own admin ports', () => {
    expect(cfg).toMatch(/^\s+balance roundrobin$/m);
    expect(cfg).toMatch(/^\s+retry-on conn-failure empty-response$/m);
    expect(cfg).toMatch(/^\s+http-request disable-l7-retry unless METH_GET/m);
    expect(cfg).toMatch(/^\s+default-server check port 9090 inter 2s fastinter 500ms fall 2 rise 2$/m);
    expect(cfg).toContain('  server gateway1b 127.0.0.1:13002 port 19002');
    expect(cfg).toContain('  bind 127.0.0.1:18080');
    expect(cfg).not.toMatch(/resolvers|server-template|127\.0\.0\.11/);
  });

  it('refuses a shipped config it cannot adapt', () => {
    expect(() => haproxyConfig(input, 'global\ndefaults\n  mode http\n')).toThrow(/no bind, template, defaultServer/);
  });

  it.skipIf(!onPath('haproxy'))('passes haproxy -c (skipped: haproxy is not on PATH)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'oidc-bff-soak-cfg-')), 'haproxy.cfg');
    writeFileSync(file, cfg);
    expect(() => execFileSync('haproxy', ['-c', '-q', '-f', file], { stdio: 'pipe' })).not.toThrow();
  });
});
