/**
 * A cookie jar for scripted browsers in tests.
 *
 * Cookies are kept per origin host:port (stricter than RFC 6265, which ignores
 * ports: the gateway and the provider both live on 127.0.0.1 in tests and must
 * not see each other's cookies). `Domain` is ignored (host-only), `Path` is
 * honoured, `Max-Age`/`Expires` in the past delete. `Secure` cookies are
 * stored and sent over http too, so an https `PUBLIC_URL` can be tested
 * against a plain listener; the flags stay readable for assertions.
 */
export interface StoredCookie {
  name: string;
  value: string;
  /** host:port the cookie belongs to. */
  host: string;
  path: string;
  /** Epoch ms; undefined = session cookie. */
  expiresAt?: number;
  secure: boolean;
  httpOnly: boolean;
  sameSite?: string;
  /** The Set-Cookie header it came from. */
  raw: string;
}

export interface CookieJar {
  /** The Cookie header value for a request to `url`, or undefined when no cookie matches. */
  cookieHeaderFor(url: string | URL): string | undefined;
  /** Records the Set-Cookie headers of a response to `url`. */
  store(url: string | URL, setCookieHeaders: readonly string[]): void;
  /** Live cookies, optionally only those for `url`'s host:port (all paths). */
  list(url?: string | URL): StoredCookie[];
  get(url: string | URL, name: string): StoredCookie | undefined;
  set(url: string | URL, name: string, value: string, path?: string): void;
  delete(url: string | URL, name: string): void;
  clear(): void;
}

export function createCookieJar(now: () => number = Date.now): CookieJar {
  let cookies: StoredCookie[] = [];

  const live = () => {
    cookies = cookies.filter((cookie) => cookie.expiresAt === undefined || cookie.expiresAt > now());
    return cookies;
  };
  const replace = (cookie: StoredCookie) => {
    cookies = cookies.filter((c) => !(c.host === cookie.host && c.name === cookie.name && c.path === cookie.path));
    if (cookie.expiresAt === undefined || cookie.expiresAt > now()) cookies.push(cookie);
  };

  return {
    cookieHeaderFor(url) {
      const target = new URL(url);
      const matching = live()
        .filter((cookie) => cookie.host === target.host && pathMatches(target.pathname, cookie.path))
        .sort((a, b) => b.path.length - a.path.length);
      return matching.length ? matching.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ') : undefined;
    },
    store(url, setCookieHeaders) {
      const target = new URL(url);
      for (const header of setCookieHeaders) {
        const cookie = parseSetCookie(header, target, now());
        if (cookie) replace(cookie);
      }
    },
    list(url) {
      const host = url === undefined ? undefined : new URL(url).host;
      return live().filter((cookie) => host === undefined || cookie.host === host);
    },
    get(url, name) {
      const target = new URL(url);
      return live()
        .filter((cookie) => cookie.host === target.host && cookie.name === name && pathMatches(target.pathname, cookie.path))
        .sort((a, b) => b.path.length - a.path.length)[0];
    },
    set(url, name, value, path = '/') {
      const host = new URL(url).host;
      replace({ name, value, host, path, secure: false, httpOnly: false, raw: `${name}=${value}; Path=${path}` });
    },
    delete(url, name) {
      const host = new URL(url).host;
      cookies = cookies.filter((cookie) => !(cookie.host === host && cookie.name === name));
    },
    clear() {
      cookies = [];
    },
  };
}

function parseSetCookie(header: string, url: URL, nowMs: number): StoredCookie | undefined {
  const [pair = '', ...attributes] = header.split(';');
  const eq = pair.indexOf('=');
  if (eq <= 0) return undefined;
  const cookie: StoredCookie = {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim(),
    host: url.host,
    path: defaultPath(url.pathname),
    secure: false,
    httpOnly: false,
    raw: header,
  };
  let maxAgeSeen = false;
  for (const attribute of attributes) {
    const [rawKey = '', ...rest] = attribute.split('=');
    const key = rawKey.trim().toLowerCase();
    const value = rest.join('=').trim();
    if (key === 'path' && value.startsWith('/')) cookie.path = value;
    else if (key === 'secure') cookie.secure = true;
    else if (key === 'httponly') cookie.httpOnly = true;
    else if (key === 'samesite') cookie.sameSite = value;
    else if (key === 'max-age' && /^-?\d+$/.test(value)) {
      // RFC 6265 5.2.2: Max-Age wins over Expires; zero or negative = expired now.
      maxAgeSeen = true;
      const seconds = Number(value);
      cookie.expiresAt = seconds <= 0 ? 0 : nowMs + seconds * 1000;
    } else if (key === 'expires' && !maxAgeSeen) {
      const at = Date.parse(value);
      if (!Number.isNaN(at)) cookie.expiresAt = at;
    }
  }
  return cookie;
}

/** RFC 6265 5.1.4 default-path: the request path up to, not including, its last `/`. */
function defaultPath(pathname: string): string {
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

/** RFC 6265 5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/';
}
