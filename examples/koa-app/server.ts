/**
 * Runs the example: `npx tsx examples/koa-app/server.ts` with the gateway's
 * variables in the environment (OIDC_ISSUER, OIDC_CLIENT_ID, …) plus
 * ORDERS_API_URL.
 */
import { envVarNames } from '../../src/config/env-schema.js';
import { createExampleApp } from './app.js';

const bffConfig = Object.fromEntries(envVarNames.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]!]])));
const { app, bff } = createExampleApp({ bff: bffConfig, ordersApiUrl: process.env['ORDERS_API_URL'] ?? 'http://127.0.0.1:8082' });
const server = app.listen(Number(process.env['PORT'] ?? 3000), '127.0.0.1');
// WebSockets under the proxied prefixes go to the gateway; anything else is this app's (none here).
server.on('upgrade', (req, socket, head) => {
  if (!bff.upgrade(req, socket, head)) socket.destroy();
});
const stop = () => server.close(() => void bff.close().then(() => process.exit(0)));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
