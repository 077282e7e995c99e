import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from './config/load-config.js';
import { startGateway } from './gateway.js';
import { createLogger } from './ops/logger.js';

/**
 * `npm run demo`: the whole BFF pattern on one machine with nothing to set up.
 * An embedded identity provider shaped like a Keycloak realm (user admin /
 * password test), an echo API behind the gateway's proxy, the gateway in
 * memory mode serving a small page. Development only: the provider's keys and
 * the session secret are throwaway values.
 */
async function runDemo(): Promise<void> {
  const { createDevIdentityProvider } = await import('./dev/dev-identity-provider.js');
  const { createEchoApi } = await import('./dev/echo-api.js');
  const env = process.env;
  const port = Number(env['PORT'] ?? 3000);
  const publicUrl = env['PUBLIC_URL'] ?? `http://localhost:${port}`;

  const idp = await createDevIdentityProvider({
    port: Number(env['DEMO_IDP_PORT'] ?? 8081),
    realm: 'demo',
    // DEMO_PAR=required: the provider refuses authorization requests that were not pushed (RFC 9126);
    // the gateway's OIDC_PAR=auto sees it in discovery and pushes them.
    pushedAuthorizationRequests: env['DEMO_PAR'] === 'required' ? 'required' : 'on',
    clients: [
      {
        client_id: 'bff',
        client_secret: 'demo-client-secret',
        redirect_uris: [`${publicUrl}/auth/callback`],
        post_logout_redirect_uris: [`${publicUrl}/`],
        backchannel_logout_uri: `http://127.0.0.1:${port}/auth/backchannel-logout`,
      },
    ],
  });
  const api = await createEchoApi({ port: Number(env['DEMO_API_PORT'] ?? 8082) });

  const routesFile = fileURLToPath(new URL('../demo/routes.yaml', import.meta.url));
  // The echo API's port is chosen at start: the committed file names it ${DEMO_API_URL}.
  const readFile = (path: string) => readFileSync(path, 'utf8').replaceAll('${DEMO_API_URL}', api.url);
  let config;
  try {
    config = loadConfig({
      LOG_LEVEL: 'warn',
      ...env,
      PORT: String(port),
      PUBLIC_URL: publicUrl,
      OIDC_ISSUER: idp.issuer,
      OIDC_CLIENT_ID: 'bff',
      OIDC_CLIENT_SECRET: 'demo-client-secret',
      PROXY_ROUTES: `/api=${api.url}`,
      ROUTES_FILE: routesFile,
      STATIC_DIR: fileURLToPath(new URL('../demo/public', import.meta.url)),
      SESSION_SECRET: env['SESSION_SECRET'] ?? 'demo-only-session-secret-not-for-production',
      REDIS_ENABLED: env['REDIS_ENABLED'] ?? 'false',
    }, { readFile });
  } catch (err) {
    if (err instanceof ConfigError) for (const p of err.problems) process.stderr.write(`config error: ${p}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.logLevel });
  const gateway = await startGateway(config, { logger, host: '127.0.0.1' });

  process.stdout.write(
    [
      '',
      '  oidc-bff demo (DEVELOPMENT ONLY: throwaway keys and secret, in-memory sessions)',
      '',
      `  Open        ${publicUrl}/`,
      '  Log in as   admin / test',
      `  Provider    ${idp.issuer}  (embedded, Keycloak-shaped realm "demo")`,
      `  API         ${publicUrl}/api/* -> ${api.url}  (echoes what it receives, incl. the Bearer token)`,
      `  Public API  ${publicUrl}/public-api/*  (no login needed, no token sent)`,
      `  Admin API   ${publicUrl}/admin-api/*  (realm role admin only; X-User-* headers)`,
      `  Admin port  ${gateway.adminUrl}  (/healthz /readyz /status /metrics)`,
      '',
      '  Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );

  const stop = async () => {
    await gateway.close();
    await Promise.all([api.close(), idp.close()]);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

await runDemo();
