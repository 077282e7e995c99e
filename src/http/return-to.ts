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
