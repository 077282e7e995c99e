import { DEV_ONE_TIME_CODE } from './dev-acr.js';

/**
 * HTML of the dev identity provider: a Keycloak-like login form, the logout
 * confirmation and the error page. Self-contained (no external fonts or
 * scripts), so a browser on the demo makes no request beyond loopback.
 */

function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function layout(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f4f4;margin:40px auto;max-width:360px}
main{background:#fff;padding:24px 32px;border-radius:4px;box-shadow:0 1px 3px rgba(0,0,0,.2)}
label,input,button{display:block;width:100%;box-sizing:border-box;margin:6px 0}
input{padding:8px}button{padding:10px;background:#0066cc;color:#fff;border:0;cursor:pointer}
.error{color:#a00;background:#fdd;padding:8px}.dev{color:#666;font-size:.85em}
</style>
</head>
<body><main>${body}</main></body>
</html>`;
}

export interface LoginPageInput {
  realm: string;
  clientId: string;
  action: string;
  interactionUid: string;
  username?: string;
  error?: string;
  /** Show the one-time code field (a level-2 login was asked for). */
  askOneTimeCode?: boolean;
}

/** The login form; `id="kc-form-login"` and the field names follow Keycloak's. */
export function loginPage(input: LoginPageInput): string {
  const error = input.error ? `<p class="error" id="input-error">${escapeHtml(input.error)}</p>` : '';
  return layout(`Sign in to ${input.realm}`, `
<h1>Sign in to ${escapeHtml(input.realm)}</h1>
<p>Client: <code>${escapeHtml(input.clientId)}</code></p>
${error}
<form id="kc-form-login" method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="interaction" value="${escapeHtml(input.interactionUid)}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autofocus value="${escapeHtml(input.username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
${input.askOneTimeCode ? `<label for="otp">One-time code (development: ${DEV_ONE_TIME_CODE})</label>
<input id="otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code">
` : ''}<button type="submit" name="login" value="Sign In">Sign In</button>
</form>
<p class="dev">Development identity provider: never use it in production.</p>`);
}

/**
 * oidc-provider's logout confirmation. `form` is its hidden-field form; the
 * added `logout=yes` ends the whole provider session, and the script submits
 * it at once, as Keycloak does when an id_token_hint is given.
 */
export function logoutPage(form: string): string {
  const withLogout = form.replace('</form>', '<input type="hidden" name="logout" value="yes"></form>');
  return layout('Signing out', `
<h1>Signing out</h1>
${withLogout}
<button type="submit" form="op.logoutForm">Sign out</button>
<script>document.getElementById('op.logoutForm').submit()</script>`);
}

export function loggedOutPage(): string {
  return layout('Signed out', '<h1>Signed out</h1><p>You are signed out of the identity provider.</p>');
}

export function errorPage(out: Record<string, unknown>): string {
  const rows = Object.entries(out)
    .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
    .join('');
  return layout('Error', `<h1>Something went wrong</h1>${rows}`);
}
