import type { ClientAuth, ClientAuthMethod } from './config.js';
import { parseClientPrivateKey } from './parse-client-private-key.js';

const METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'];

/**
 * OIDC_CLIENT_AUTH with OIDC_CLIENT_SECRET and OIDC_CLIENT_PRIVATE_KEY_FILE.
 * Unset: basic with a secret, private_key_jwt with a key file, none without
 * either. A method and credentials that do not go together (basic without a
 * secret, none with one, a key file beside a secret) is a config error, not a guess.
 */
export function parseClientAuth(
  method: string | undefined,
  secret: string | undefined,
  keyFile: string | undefined = undefined,
  readFile: (path: string) => string = () => {
    throw new Error('no file reader');
  },
): { clientAuth: ClientAuth; problems: string[] } {
  const none = { method: 'none' } as const;
  const chosen = method ?? (secret ? 'client_secret_basic' : keyFile ? 'private_key_jwt' : 'none');
  if (!(METHODS as readonly string[]).includes(chosen)) {
    return { clientAuth: none, problems: [`OIDC_CLIENT_AUTH must be one of ${METHODS.join(', ')} (got "${chosen}")`] };
  }
  if (keyFile && chosen !== 'private_key_jwt') {
    return { clientAuth: none, problems: [`OIDC_CLIENT_PRIVATE_KEY_FILE is set, but OIDC_CLIENT_AUTH=${chosen}: unset it or use private_key_jwt`] };
  }
  if (chosen === 'private_key_jwt') {
    if (secret) return { clientAuth: none, problems: ['OIDC_CLIENT_AUTH=private_key_jwt, but OIDC_CLIENT_SECRET is set: unset one of them'] };
    if (!keyFile) return { clientAuth: none, problems: ['OIDC_CLIENT_AUTH=private_key_jwt needs OIDC_CLIENT_PRIVATE_KEY_FILE'] };
    const { key, problem } = parseClientPrivateKey(keyFile, readFile);
    if (!key) return { clientAuth: none, problems: [problem!] };
    return { clientAuth: { method: 'private_key_jwt', key }, problems: [] };
  }
  if (chosen === 'none') {
    if (secret) return { clientAuth: none, problems: ['OIDC_CLIENT_AUTH=none, but OIDC_CLIENT_SECRET is set: unset one of them'] };
    return { clientAuth: none, problems: [] };
  }
  if (!secret) return { clientAuth: none, problems: [`OIDC_CLIENT_AUTH=${chosen} needs OIDC_CLIENT_SECRET`] };
  return { clientAuth: { method: chosen as 'client_secret_basic' | 'client_secret_post', secret }, problems: [] };
}
