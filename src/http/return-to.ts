const BASE = 'http://return-to.invalid';
const MAX_LENGTH = 2048;

/**
 * `returnTo` if it is a same-origin relative path, `/` otherwise. Checked in
 * its raw form and after every round of percent-decoding, because browsers
 * and servers in between disagree on what to decode (`/%2F%2Fevil.example`,
 * `/%5Cevil.example`), and `\` is read as `/` by browsers.
 */
export function safeReturnTo(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) return '/';
  let candidate = raw;
  for (let round = 0; round < 5; round++) {
    if (!isPlainPath(candidate, round === 0)) return '/';
    let decoded: string;
    try {
      decoded = decodeURIComponent(candidate);
    } catch {
      return '/';
    }
    if (decoded === candidate) return raw;
    candidate = decoded;
  }
  return '/'; // still encoded after five rounds: nobody needs that
}

function isPlainPath(path: string, raw: boolean): boolean {
  if (!path.startsWith('/') || path.startsWith('//')) return false;
  // Backslashes and control characters let browsers reinterpret the path; a
  // raw space is never sent by a well-behaved client (an encoded one is fine).
  if (/[\\\u0000-\u001f\u007f]/.test(path) || (raw && path.includes(' '))) return false;
  try {
    return new URL(path, BASE).origin === BASE;
  } catch {
    return false;
  }
}

/**
 * Where a SPA should come back to after a login it did not start itself (a
 * step-up answer to one of its API calls): the path and query of the page
 * that made the call, taken from `Referer` when that page is on `publicOrigin`
 * and passes safeReturnTo; `/` otherwise (no Referer, another origin). The
 * gateway's own pages send `Referrer-Policy: no-referrer`, so a SPA served by
 * it sends a Referer only when it asks to (fetch's `referrerPolicy: 'same-origin'`).
 */
export function returnToFromReferer(referer: string | undefined, publicOrigin: string): string {
  if (!referer || referer.length > MAX_LENGTH) return '/';
  let url: URL;
  try {
    url = new URL(referer);
  } catch {
    return '/';
  }
  return url.origin === publicOrigin ? safeReturnTo(url.pathname + url.search) : '/';
}
