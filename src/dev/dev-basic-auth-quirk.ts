import type { Context, Middleware, Next } from 'koa';

/**
 * LemonLDAP::NG and Glewlwyd take `client_secret_basic` credentials as sent,
 * without the form-decoding RFC 6749 §2.3.1 asks for, so an id or secret
 * outside [A-Za-z0-9] (form-encoded by openid-client) does not match there.
 * oidc-provider decodes them; this middleware makes it see what those
 * providers compare: the credentials still encoded.
 */
export function undecodedBasicCredentials(): Middleware {
  return async (ctx: Context, next: Next) => {
    const header = ctx.get('authorization');
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
    if (match) {
      const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        // Encoded once more, so that oidc-provider's decoding leaves them as they came.
        const [id, secret] = [decoded.slice(0, colon), decoded.slice(colon + 1)].map(formEncode);
        ctx.req.headers['authorization'] = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
      }
    }
    await next();
  };
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}
