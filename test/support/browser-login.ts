/**
 * A tiny scripted browser for integration tests: a cookie jar, fetch with
 * manual redirects, and a login through the identity provider's HTML form.
 *
 *   const { jar, finalResponse } = await loginThroughProvider(`${gatewayUrl}/auth/login`,
 *     { username: 'admin', password: 'test' });
 *
 * `startLogin` / `finishLogin` split the same flow at the redirect back to the
 * gateway, so a test can tamper with the callback (drop the binding cookie,
 * replay it, change `state`).
 */
import { createCookieJar, type CookieJar } from './cookie-jar.js';
import { parseForms, type HtmlForm } from './html-forms.js';

export { parseForms } from './html-forms.js';

/** What a browser sends for a top-level navigation. */
const NAVIGATION_ACCEPT = 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8';
const MAX_STEPS = 20;

export interface Browser {
  jar: CookieJar;
  /** fetch with the jar's cookies and `redirect: 'manual'`; Set-Cookie headers go into the jar. */
  fetch(url: string | URL, init?: RequestInit): Promise<Response>;
  /** GET `url` and follow redirects while `stayOn(next)` holds (default: always); returns where it stopped. */
  follow(url: string | URL, options?: FollowOptions): Promise<FollowResult>;
  /** Submits a parsed form (POST urlencoded, or GET with the fields as query). */
  submitForm(form: HtmlForm, overrides?: Record<string, string>): Promise<Response>;
}

export interface FollowOptions {
  init?: RequestInit;
  /** Keep following a redirect to `next`? When false, `follow` stops and reports `leftTo`. */
  stayOn?: (next: URL) => boolean;
  maxRedirects?: number;
}

export interface FollowResult {
  /** The last response fetched (body unread). */
  response: Response;
  /** URL of that response. */
  url: string;
  /** Redirect target that was not followed because `stayOn` said no. */
  leftTo?: string;
  /** Every URL fetched, in order. */
  chain: string[];
}

export function createBrowser(options: { jar?: CookieJar; headers?: Record<string, string> } = {}): Browser {
  const jar = options.jar ?? createCookieJar();

  async function browserFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(options.headers);
    new Headers(init.headers).forEach((value, name) => headers.set(name, value));
    const cookie = jar.cookieHeaderFor(url);
    if (cookie && !headers.has('cookie')) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    jar.store(url, response.headers.getSetCookie());
    return response;
  }

  async function follow(url: string | URL, followOptions: FollowOptions = {}): Promise<FollowResult> {
    let current = new URL(url);
    const chain = [current.href];
    let response = await browserFetch(current, followOptions.init);
    for (let hop = 0; hop < (followOptions.maxRedirects ?? MAX_STEPS); hop += 1) {
      const next = redirectTarget(response, current);
      if (!next) return { response, url: current.href, chain };
      await discard(response);
      if (followOptions.stayOn && !followOptions.stayOn(next)) {
        return { response, url: current.href, leftTo: next.href, chain };
      }
      current = next;
      chain.push(current.href);
      // 307/308 would repeat the method and body; every redirect in these flows is a GET.
      response = await browserFetch(current, { headers: followOptions.init?.headers });
    }
    throw new Error(`too many redirects from ${String(url)}: ${chain.join(' -> ')}`);
  }

  function submitForm(form: HtmlForm, overrides: Record<string, string> = {}): Promise<Response> {
    const body = new URLSearchParams({ ...form.fields, ...overrides });
    if (form.method === 'get') {
      const target = new URL(form.action);
      body.forEach((value, name) => target.searchParams.set(name, value));
      return browserFetch(target, { headers: { accept: NAVIGATION_ACCEPT } });
    }
    return browserFetch(form.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: NAVIGATION_ACCEPT },
      body,
    });
  }

  return { jar, fetch: browserFetch, follow, submitForm };
}

export interface LoginOptions {
  username: string;
  password: string;
  /** A second factor for the dev provider's form (`otp`: acr "2" when right); not sent when unset. */
  otp?: string;
  /** Name of the login form's user field (default `username`; LemonLDAP::NG says `user`). */
  usernameField?: string;
  /** Reuse a browser (e.g. to log in a second tab, or to have the provider session already). */
  browser?: Browser;
  /** Origin of the identity provider; default: the origin of the first URL carrying `response_type` (or a pushed request's `request_uri`). */
  providerOrigin?: string;
}

export interface PendingLogin {
  browser: Browser;
  jar: CookieJar;
  /** Where the provider sent the browser back (the gateway's callback, with code and state). */
  callbackUrl: string;
  providerOrigin: string;
  /** Every URL fetched so far. */
  chain: string[];
}

export interface LoginResult {
  browser: Browser;
  jar: CookieJar;
  callbackUrl: string;
  /** The gateway's answer to the callback, not followed further (usually a 302 to returnTo); body unread. */
  finalResponse: Response;
}

/** The provider did not let the login through; `html` is the page it showed instead. */
export class LoginFailedError extends Error {
  override name = 'LoginFailedError';
  constructor(
    message: string,
    readonly url: string,
    readonly status: number,
    readonly html?: string,
  ) {
    super(message);
  }
}

/**
 * GETs `startUrl` (the gateway's `/auth/login`, or an authorization URL),
 * follows the provider's redirects, posts the credentials into its login form
 * and stops at the first redirect that leaves the provider: the callback.
 * Throws LoginFailedError when the form comes back (wrong password) or the
 * provider shows anything else.
 */
export async function startLogin(startUrl: string | URL, options: LoginOptions): Promise<PendingLogin> {
  const browser = options.browser ?? createBrowser();
  let providerOrigin = options.providerOrigin;
  let current = new URL(startUrl);
  const chain = [current.href];
  if (!providerOrigin && isAuthorizationRequest(current)) providerOrigin = current.origin;
  let response = await browser.fetch(current, { headers: { accept: NAVIGATION_ACCEPT } });
  let credentialsPosted = false;

  for (let step = 0; step < MAX_STEPS; step += 1) {
    const next = redirectTarget(response, current);
    if (next) {
      await discard(response);
      if (!providerOrigin && isAuthorizationRequest(next)) providerOrigin = next.origin;
      if (!providerOrigin) {
        throw new LoginFailedError(`${current.href} redirected to ${next.href}, not to an authorization request`, current.href, response.status);
      }
      if (next.origin !== providerOrigin) {
        return { browser, jar: browser.jar, callbackUrl: next.href, providerOrigin, chain };
      }
      current = next;
      chain.push(current.href);
      response = await browser.fetch(current, { headers: { accept: NAVIGATION_ACCEPT } });
      continue;
    }

    const html = await response.text();
    const form = response.status === 200 ? parseForms(html, current).find((f) => f.passwordFields.length > 0) : undefined;
    if (!form) {
      throw new LoginFailedError(`no login form at ${current.href} (status ${response.status})`, current.href, response.status, html);
    }
    if (credentialsPosted) {
      const shown = /id="input-error"[^>]*>([^<]*)</.exec(html)?.[1] ?? 'login form shown again';
      throw new LoginFailedError(`login refused: ${shown}`, current.href, response.status, html);
    }
    const passwordField = form.passwordFields[0] ?? 'password';
    response = await browser.submitForm(form, {
      [options.usernameField ?? 'username']: options.username,
      [passwordField]: options.password,
      ...(options.otp !== undefined ? { otp: options.otp } : {}),
    });
    credentialsPosted = true;
    current = new URL(form.action);
    chain.push(current.href);
  }
  throw new LoginFailedError(`login did not finish within ${MAX_STEPS} steps: ${chain.join(' -> ')}`, current.href, response.status);
}

/** GETs the callback with the browser's cookies and returns the gateway's answer, unfollowed. */
export async function finishLogin(
  pending: PendingLogin,
  options: { callbackUrl?: string; headers?: Record<string, string> } = {},
): Promise<LoginResult> {
  const callbackUrl = options.callbackUrl ?? pending.callbackUrl;
  const finalResponse = await pending.browser.fetch(callbackUrl, { headers: { accept: NAVIGATION_ACCEPT, ...options.headers } });
  return { browser: pending.browser, jar: pending.jar, callbackUrl, finalResponse };
}

/** The whole login: `startLogin` then `finishLogin`. */
export async function loginThroughProvider(startUrl: string | URL, options: LoginOptions): Promise<LoginResult> {
  return finishLogin(await startLogin(startUrl, options));
}

/**
 * Follows a `logout_url` (the provider's end-session endpoint) like a browser:
 * submits the provider's sign-out form, then follows redirects until they
 * leave the provider. `redirectedTo` is the post-logout redirect URI reached
 * (undefined when the provider showed its own "signed out" page).
 */
export async function logoutThroughProvider(
  logoutUrl: string | URL,
  options: { browser: Browser },
): Promise<{ redirectedTo?: string; finalResponse: Response }> {
  const { browser } = options;
  const providerOrigin = new URL(logoutUrl).origin;
  const stayOn = (next: URL) => next.origin === providerOrigin;
  let result = await browser.follow(logoutUrl, { stayOn, init: { headers: { accept: NAVIGATION_ACCEPT } } });
  if (!result.leftTo && result.response.status === 200) {
    const html = await result.response.text();
    const form = parseForms(html, result.url).find((candidate) => candidate.method === 'post');
    if (!form) return { finalResponse: new Response(html, { status: 200 }) };
    const submitted = await browser.submitForm(form, { logout: 'yes' });
    const next = redirectTarget(submitted, new URL(form.action));
    if (!next) return { finalResponse: submitted };
    await discard(submitted);
    if (!stayOn(next)) return { redirectedTo: next.href, finalResponse: submitted };
    result = await browser.follow(next, { stayOn, init: { headers: { accept: NAVIGATION_ACCEPT } } });
  }
  return { redirectedTo: result.leftTo, finalResponse: result.response };
}

/** An authorization request: in full, or pushed beforehand (RFC 9126: only client_id and request_uri). */
function isAuthorizationRequest(url: URL): boolean {
  return url.searchParams.has('response_type') || url.searchParams.has('request_uri');
}

function redirectTarget(response: Response, base: URL): URL | undefined {
  const location = response.headers.get('location');
  if (response.status < 300 || response.status > 399 || !location) return undefined;
  return new URL(location, base);
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel();
}
