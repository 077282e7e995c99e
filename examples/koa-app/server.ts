/**
 * Runs the example: `npx tsx examples/koa-app/server.ts` with the gateway's
 * variables in the environment (OIDC_ISSUER, OIDC_CLIENT_ID, …) plus
 * ORDERS_API_URL.
 */
import { loadConfig } from 'oidc-bff';
import { createExampleApp } from './app.js';

// loadConfig reads the environment's variables (the standalone gateway's own path); an object works too.
const { app, bff } = createExampleApp({ bff: loadConfig(process.env), ordersApiUrl: process.env['ORDERS_API_URL'] ?? 'http://127.0.0.1:8082' });
const server = app.listen(Number(process.env['PORT'] ?? 3000), '127.0.0.1');
// WebSockets under the proxied prefixes go to the gateway; anything else is this app's (none here).
server.on('upgrade', (req, socket, head) => {
  if (!bff.upgrade(req, socket, head)) socket.destroy();
});
const stop = () => server.close(() => void bff.close().then(() => process.exit(0)));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
