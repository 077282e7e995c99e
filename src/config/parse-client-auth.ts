import type { ClientAuth, ClientAuthMethod } from './config.js';

const METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'none'];

/**
 * OIDC_CLIENT_AUTH with OIDC_CLIENT_SECRET. Unset: basic with a secret, none
 * without. A method and a secret that do not go together (basic without a
 * secret, none with one) is a config error, not a guess.
 */
export function parseClientAuth(method: string | undefined, secret: string | undefined): { clientAuth: ClientAuth; problems: string[] } {
  const chosen = method ?? (secret ? 'client_secret_basic' : 'none');
  if (!(METHODS as readonly string[]).includes(chosen)) {
    return { clientAuth: { method: 'none' }, problems: [`OIDC_CLIENT_AUTH must be one of ${METHODS.join(', ')} (got "${chosen}")`] };
  }
  if (chosen === 'none') {
    if (secret) return { clientAuth: { method: 'none' }, problems: ['OIDC_CLIENT_AUTH=none, but OIDC_CLIENT_SECRET is set: unset one of them'] };
    return { clientAuth: { method: 'none' }, problems: [] };
  }
  if (!secret) return { clientAuth: { method: 'none' }, problems: [`OIDC_CLIENT_AUTH=${chosen} needs OIDC_CLIENT_SECRET`] };
  return { clientAuth: { method: chosen as 'client_secret_basic' | 'client_secret_post', secret }, problems: [] };
}
