/**
 * The REST calls Glewlwyd's login and logout pages (a single-page app) make,
 * for a scripted browser: sign in, consent, continue the authorization; and
 * the end-session page's steps, which send the back-channel logout tokens.
 */
import { createBrowser, type Browser, type PendingLogin } from './browser-login.js';
import type { GlewlwydProvider } from './start-glewlwyd.js';

/**
 * GETs `startUrl` (the gateway's /auth/login), follows it to Glewlwyd's
 * authorization endpoint, signs in with username and password, records the
 * consent for the requested scopes (Glewlwyd cannot skip consent), continues
 * the authorization and stops at the redirect back to the gateway.
 */
export async function loginThroughGlewlwyd(
  provider: Pick<GlewlwydProvider, 'url' | 'client'>,
  startUrl: string,
  options: { username: string; password: string; browser?: Browser },
): Promise<PendingLogin> {
  const browser = options.browser ?? createBrowser();
  const chain = [startUrl];
  const toProvider = await browser.fetch(startUrl, { headers: { accept: 'text/html' } });
  const authorizeUrl = new URL(toProvider.headers.get('location') ?? '', startUrl);
  await toProvider.body?.cancel();
  if (authorizeUrl.origin !== provider.url) throw new Error(`${startUrl} answered ${toProvider.status} to ${authorizeUrl.href}, not to Glewlwyd`);
  chain.push(authorizeUrl.href);

  const signIn = await browser.fetch(`${provider.url}/api/auth/`, jsonRequest('POST', { username: options.username, password: options.password }));
  if (signIn.status !== 200) throw new Error(`Glewlwyd refused the sign-in of ${options.username}: ${signIn.status} ${await signIn.text()}`);
  await signIn.body?.cancel();
  const scope = authorizeUrl.searchParams.get('scope') ?? 'openid';
  const consent = await browser.fetch(`${provider.url}/api/auth/grant/${encodeURIComponent(provider.client.client_id)}`, jsonRequest('PUT', { scope }));
  if (consent.status !== 200) throw new Error(`Glewlwyd refused the consent: ${consent.status} ${await consent.text()}`);
  await consent.body?.cancel();

  const resume = new URL(authorizeUrl);
  resume.searchParams.set('g_continue', '');
  chain.push(resume.href);
  const answer = await browser.fetch(resume, { headers: { accept: 'text/html' } });
  const callback = new URL(answer.headers.get('location') ?? '', resume);
  await answer.body?.cancel();
  if (answer.status !== 302 || callback.origin === provider.url || !callback.searchParams.has('code')) {
    throw new Error(`Glewlwyd did not send the browser back with a code: ${answer.status} ${callback.href}`);
  }
  return { browser, jar: browser.jar, callbackUrl: callback.href, providerOrigin: provider.url, chain };
}

/**
 * Follows a `logout_url` (Glewlwyd's end-session endpoint) like its logout
 * page does: reads the session's clients, ends the OpenID session (which
 * sends the back-channel logout tokens), signs out, and returns where the
 * page would send the browser (the post-logout redirect URI, with `state`).
 */
export async function logoutThroughGlewlwyd(
  provider: Pick<GlewlwydProvider, 'url'>,
  logoutUrl: string,
  browser: Browser,
): Promise<{ redirectedTo?: string }> {
  const endSession = await browser.fetch(logoutUrl, { headers: { accept: 'text/html' } });
  const page = new URL(endSession.headers.get('location') ?? '', logoutUrl);
  await endSession.body?.cancel();
  if (endSession.status !== 302 || page.searchParams.get('prompt') !== 'end_session') {
    throw new Error(`Glewlwyd's end-session endpoint did not accept the logout: ${endSession.status} ${page.href}`);
  }
  const [sid, plugin, clientId] = ['sid', 'plugin', 'client_id'].map((name) => page.searchParams.get(name) ?? '');
  const postRedirectTo = page.searchParams.get('post_redirect_to');
  const query = postRedirectTo ? `?post_redirect_to=${encodeURIComponent(postRedirectTo)}` : '';
  // The page lists the session's front-channel clients first; it goes back to the application only when
  // that answer names the post-logout redirect URI (which Glewlwyd puts there only when the request carried a `state`).
  const list = await browser.fetch(`${provider.url}/api/${plugin}/session/${sid}/${clientId}${query}`, { headers: { accept: 'application/json' } });
  if (list.status !== 200) throw new Error(`Glewlwyd's session list answered ${list.status}: ${await list.text()}`);
  const session = (await list.json()) as { post_redirect_to?: string };
  for (const path of [`/api/${plugin}/session/${sid}`, '/api/auth/']) {
    const response = await browser.fetch(`${provider.url}${path}`, { method: 'DELETE' });
    if (response.status !== 200) throw new Error(`Glewlwyd logout step DELETE ${path} answered ${response.status}: ${await response.text()}`);
    await response.body?.cancel();
  }
  const callbackUrl = page.searchParams.get('callback_url');
  return session.post_redirect_to && callbackUrl ? { redirectedTo: callbackUrl } : {};
}

function jsonRequest(method: string, body: unknown): RequestInit {
  return { method, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) };
}
