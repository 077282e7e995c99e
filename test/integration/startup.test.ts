import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { json } from '../support/http.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { findFreePort } from '../support/start-redis.js';

/** Runs src/main.ts as operators run dist/main.js: environment in, exit code and stderr out. */
function runMain(env: Record<string, string>, waitMs = 20_000): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`main did not exit within ${waitMs} ms; stderr: ${stderr}`));
    }, waitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

describe('start-up configuration errors', () => {
  it('reports every bad or missing variable on its own line and exits non-zero without listening', async () => {
    const { code, stderr } = await runMain({ PORT: 'http', SESSION_TTL_SECONDS: '-5', NODE_ENV: 'production', REDIS_ENABLED: 'yes-please' });
    expect(code).not.toBe(0);
    const lines = stderr.trim().split('\n');
    for (const name of ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'PORT', 'SESSION_TTL_SECONDS', 'SESSION_SECRET', 'REDIS_ENABLED']) {
      expect(lines.filter((l) => l.includes(name)), name).toHaveLength(1);
    }
    expect(stderr).toContain('OIDC_ISSUER is required');
  });

  it('refuses a short SESSION_SECRET in production', async () => {
    const { code, stderr } = await runMain({
      NODE_ENV: 'production',
      OIDC_ISSUER: 'https://kc.example/realms/x',
      OIDC_CLIENT_ID: 'bff',
      SESSION_SECRET: 'too-short',
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain('SESSION_SECRET must be at least 32 characters');
  });

  it('stops on a SETTINGS_DEFAULTS_FILE that does not exist', async () => {
    const { code, stderr } = await runMain({ OIDC_ISSUER: 'https://kc.example/realms/x', OIDC_CLIENT_ID: 'bff', SETTINGS_DEFAULTS_FILE: '/nonexistent.json' });
    expect(code).not.toBe(0);
    expect(stderr).toContain('SETTINGS_DEFAULTS_FILE');
  });
});

describe('start-up before the provider is up', () => {
  let idp: TestIdentityProvider | undefined;
  afterAll(async () => {
    await idp?.close();
  });

  it('is not ready until discovery succeeds, then becomes ready by itself', async () => {
    const idpPort = await findFreePort();
    // The provider will live here, but starts only after the gateway.
    const issuer = `http://127.0.0.1:${idpPort}/realms/test`;
    const { loadConfig } = await import('../../src/config/load-config.js');
    const { startGateway } = await import('../../src/gateway.js');
    const { createLogger } = await import('../../src/ops/logger.js');
    // A free port can be taken between the probe and listen(): pick again then.
    const start = async () => {
      const port = await findFreePort();
      const config = loadConfig({
        PORT: String(port),
        ADMIN_PORT: '0',
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        OIDC_ISSUER: issuer,
        OIDC_CLIENT_ID: 'bff',
        OIDC_CLIENT_SECRET: 'bff-test-secret',
        LOG_LEVEL: 'silent',
      });
      return { port, gateway: await startGateway(config, { logger: createLogger({ level: 'silent' }) }) };
    };
    let started: Awaited<ReturnType<typeof start>> | undefined;
    for (let attempt = 1; !started; attempt += 1) {
      started = await start().catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE' || attempt >= 5) throw err;
        return undefined;
      });
    }
    const { port, gateway } = started;
    try {
      const notReady = await fetch(`${gateway.adminUrl}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await json(notReady)).toMatchObject({ discovery_loaded: false });
      const login = await fetch(`${gateway.url}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
      expect(login.status).toBe(503);
      expect((await json(login)).error).toBe('provider_unavailable');

      idp = await startIdentityProvider({ port: idpPort, redirectUris: [`http://127.0.0.1:${port}/auth/callback`] });
      const deadline = Date.now() + 20_000;
      let status = 503;
      while (status !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await fetch(`${gateway.adminUrl}/readyz`)).status;
      }
      expect(status).toBe(200);
      expect((await fetch(`${gateway.url}/auth/login`, { redirect: 'manual' })).status).toBe(302);
    } finally {
      await gateway.close();
    }
  });
});
