import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Interaction, errors as OidcErrors } from 'oidc-provider';
import { DEV_ONE_TIME_CODE, requestedLevel } from './dev-acr.js';
import { errorPage, loginPage } from './dev-pages.js';
import { subjectOf, type DevUserDirectory } from './dev-users.js';

const MAX_FORM_BYTES = 16 * 1024;

export interface DevLoginRoutesDeps {
  provider: Provider;
  errors: typeof OidcErrors;
  basePath: string;
  realm: string;
  users: DevUserDirectory;
}

/**
 * The interaction endpoints (`<basePath>/login-actions/:uid`), as in
 * oidc-provider's example/routes/koa.js: a login form that checks username and
 * password (acr "1"), plus a one-time code when acr_values asks for level 2
 * (acr "2", dev-acr.ts), then consent granted without asking (Keycloak's
 * "Consent required" is off by default).
 */
export function createDevLoginRoutes(deps: DevLoginRoutesDeps) {
  const { errors } = deps;
  const pattern = new RegExp(`^${escapeRegExp(deps.basePath)}/login-actions/([\\w-]+)(/authenticate)?$`);

  return async function devLoginRoutes(ctx: Context, next: Next): Promise<void> {
    const match = pattern.exec(ctx.path);
    if (!match) return next();
    const [, uid, authenticate] = match;
    ctx.set('cache-control', 'no-store');
    try {
      if (ctx.method === 'GET' && !authenticate) return await showInteraction(ctx, uid ?? '');
      if (ctx.method === 'POST' && authenticate) return await authenticateUser(ctx, uid ?? '');
      ctx.status = 405;
    } catch (err) {
      if (!(err instanceof errors.SessionNotFound)) throw err;
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = errorPage({ error: err.error, error_description: err.error_description });
    }
  };

  async function showInteraction(ctx: Context, uid: string): Promise<void> {
    const interaction = await deps.provider.interactionDetails(ctx.req, ctx.res);
    assertSameInteraction(interaction, uid);
    if (interaction.prompt.name === 'login') {
      const loginHint = interaction.params['login_hint'];
      renderLogin(ctx, interaction, { username: typeof loginHint === 'string' ? loginHint : undefined });
      return;
    }
    if (interaction.prompt.name === 'consent') {
      await finish(ctx, { consent: await grantEverythingAsked(interaction) }, true);
      return;
    }
    throw new errors.SessionNotFound(`unsupported prompt ${interaction.prompt.name}`);
  }

  async function authenticateUser(ctx: Context, uid: string): Promise<void> {
    const interaction = await deps.provider.interactionDetails(ctx.req, ctx.res);
    assertSameInteraction(interaction, uid);
    const form = await readForm(ctx);
    if (interaction.prompt.name !== 'login' || form.get('interaction') !== uid) {
      throw new errors.SessionNotFound('login form does not belong to this interaction');
    }
    const username = form.get('username') ?? '';
    const user = deps.users.authenticate(username, form.get('password') ?? '');
    if (!user) {
      // Keycloak answers a failed login with the form again, status 200, and this text.
      renderLogin(ctx, interaction, { username, error: 'Invalid username or password.' });
      return;
    }
    // A second factor, when given, must be right (Keycloak's OTP form text); without one the login is level 1.
    const otp = form.get('otp') ?? '';
    if (otp !== '' && otp !== DEV_ONE_TIME_CODE) {
      renderLogin(ctx, interaction, { username, error: 'Invalid authenticator code.' });
      return;
    }
    const login = otp === '' ? { acr: '1', amr: ['pwd'] } : { acr: '2', amr: ['pwd', 'otp'] };
    await finish(ctx, { login: { accountId: subjectOf(user), ...login } }, false);
  }

  function renderLogin(ctx: Context, interaction: Interaction, input: { username?: string; error?: string }): void {
    ctx.type = 'html';
    ctx.body = loginPage({
      realm: deps.realm,
      clientId: String(interaction.params['client_id'] ?? ''),
      action: `${deps.basePath}/login-actions/${interaction.uid}/authenticate`,
      interactionUid: interaction.uid,
      // Keycloak's "Condition - Level of Authentication": the OTP step only when level 2 is asked for.
      askOneTimeCode: requestedLevel(interaction.params['acr_values']) >= 2,
      ...input,
    });
  }

  async function grantEverythingAsked(interaction: Interaction): Promise<{ grantId?: string }> {
    const { details } = interaction.prompt;
    const accountId = interaction.session?.accountId;
    const clientId = String(interaction.params['client_id']);
    const grant = interaction.grantId
      ? await deps.provider.Grant.find(interaction.grantId)
      : new deps.provider.Grant({ accountId, clientId });
    if (!grant) throw new errors.SessionNotFound('grant not found');
    const missingScope = details['missingOIDCScope'];
    const missingClaims = details['missingOIDCClaims'];
    const missingResourceScopes = details['missingResourceScopes'];
    if (Array.isArray(missingScope)) grant.addOIDCScope(missingScope.join(' '));
    if (Array.isArray(missingClaims)) grant.addOIDCClaims(missingClaims);
    if (missingResourceScopes && typeof missingResourceScopes === 'object') {
      for (const [indicator, scopes] of Object.entries(missingResourceScopes)) {
        if (Array.isArray(scopes)) grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    // An existing grant was modified in place; only a new one is handed over.
    return interaction.grantId ? {} : { grantId };
  }

  function assertSameInteraction(interaction: Interaction, uid: string): void {
    if (interaction.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  }

  async function finish(
    ctx: Context,
    result: Parameters<Provider['interactionResult']>[2],
    mergeWithLastSubmission: boolean,
  ): Promise<void> {
    const returnTo = await deps.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }
}


async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) return new URLSearchParams();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) ctx.throw(413, 'form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
