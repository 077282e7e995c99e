import { StepUpRequiredError } from '../errors.js';

/** An acr value the gateway repeats in a quoted header and a space-separated query: printable ASCII, no `"` or `\`. */
const ACR_VALUE = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;
/** RFC 9110 §5.6.2 token (auth-scheme and auth-param names). */
const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
/** A param value: a quoted-string (group 1, escapes kept) or a token (group 2). */
const VALUE = /"((?:[^"\\]|\\.)*)"|([!#$%&'*+.^_`|~0-9A-Za-z-]+)/y;

/**
 * RFC 9470 §3: an upstream's 401 whose `WWW-Authenticate` carries a Bearer
 * challenge with `error="insufficient_user_authentication"` becomes the
 * gateway's own step_up_required answer, with the upstream's `acr_values`
 * and `max_age` (values the gateway could not repeat safely are dropped).
 * Undefined for every other answer, which passes through unchanged.
 */
export function upstreamStepUp(statusCode: number, headers: Readonly<Record<string, string | string[] | undefined>>): StepUpRequiredError | undefined {
  if (statusCode !== 401) return undefined;
  const header = headers['www-authenticate'];
  if (header === undefined) return undefined;
  for (const value of Array.isArray(header) ? header : [header]) {
    if (!value.includes('insufficient_user_authentication')) continue; // every other 401 skips the parse
    for (const challenge of parseChallenges(value)) {
      if (challenge.scheme !== 'bearer' || challenge.params.get('error') !== 'insufficient_user_authentication') continue;
      const acrValues = (challenge.params.get('acr_values') ?? '').split(' ').filter((v) => ACR_VALUE.test(v));
      const maxAge = challenge.params.get('max_age');
      return new StepUpRequiredError(
        {
          ...(acrValues.length > 0 ? { acrValues: [...new Set(acrValues)] } : {}),
          ...(maxAge !== undefined && /^\d{1,9}$/.test(maxAge) ? { maxAgeSeconds: Number(maxAge) } : {}),
        },
        'The API asks for a stronger or more recent login; follow login_url.',
      );
    }
  }
  return undefined;
}

interface Challenge {
  /** Lower-cased auth-scheme. */
  readonly scheme: string;
  /** Lower-cased param names; quoted values unescaped. */
  readonly params: Map<string, string>;
}

/** RFC 9110 §11.6.1 `WWW-Authenticate`: one or more challenges, comma-separated, each `scheme param=value, ...`. */
function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let current: Challenge | undefined;
  let at = 0;
  while (at < header.length) {
    const char = header[at]!;
    if (char === ' ' || char === '\t' || char === ',') {
      at += 1;
      continue;
    }
    TOKEN.lastIndex = at;
    const name = TOKEN.exec(header)?.[0];
    if (!name) return challenges; // not a header we can read further (token68 or garbage): keep what we have
    at += name.length;
    const equals = /^[ \t]*=[ \t]*/.exec(header.slice(at));
    if (equals && current && header[at + equals[0].length] !== '=') {
      at += equals[0].length;
      VALUE.lastIndex = at;
      const value = VALUE.exec(header);
      if (!value) return challenges;
      at += value[0].length;
      current.params.set(name.toLowerCase(), value[1] !== undefined ? value[1].replace(/\\(.)/g, '$1') : value[2]!);
      continue;
    }
    if (equals) return challenges; // a param before any scheme, or a token68 like abc==: not ours to read
    current = { scheme: name.toLowerCase(), params: new Map() };
    challenges.push(current);
  }
  return challenges;
}
