/**
 * oidc-bff as a library: the whole gateway inside an existing Koa 3 app.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { createBff } from 'oidc-bff';
 *
 * const bff = createBff({ OIDC_ISSUER: 'https://id.example/realms/app', OIDC_CLIENT_ID: 'app', PUBLIC_URL: 'https://app.example' });
 * const app = new Koa();
 * app.use(bff.middleware);
 * app.use((ctx) => { ctx.body = ctx.session?.user ?? 'anonymous'; });
 * const server = app.listen(3000);
 * server.on('upgrade', (req, socket, head) => bff.upgrade(req, socket, head) || socket.destroy());
 * ```
 */
export { createBff, requiresAuth } from './create-bff.js';
export type { Bff, BffRequest, BffState, CreateBffDeps } from './create-bff.js';
export { configFromObject } from './config/config-from-object.js';
export type { BffConfigInput, BffConfigValue } from './config/config-from-object.js';
export { ConfigError, loadConfig } from './config/load-config.js';
export type { Config } from './config/config.js';
export { sessionOf } from './http/session-view.js';
export type { BffSessionView } from './http/session-view.js';
export { GatewayError } from './errors.js';
