import type { IncomingHttpHeaders } from 'node:http';
import { util as undiciUtil } from 'undici';

// RFC 9110 §7.6.1: connection-specific fields never cross a proxy.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

export interface RequestHeaderInput {
  incoming: IncomingHttpHeaders;
  /** Undefined: no Authorization at all (a route with `token: none`, or `auth: optional` without a session). */
  accessToken: string | undefined;
  /** `Bearer <accessToken>` made once already (a cached session's); absent: made here. */
  authorization?: string | undefined;
  /** X-User-* headers a route opted into (lower-case names). */
  userHeaders?: Readonly<Record<string, string>> | undefined;
  /** Is this cookie one of the gateway's own (session, login binding)? */
  isGatewayCookie: (name: string) => boolean;
  /** PROXY_FORWARD_COOKIES: may this browser cookie go upstream? Default: every one but the gateway's. */
  isForwardedCookie?: (name: string) => boolean;
  peerAddress: string;
  trustProxy: boolean;
  publicUrl: URL;
  requestId: string;
}

// Answer headers an upstream never sets, though it owns the rest of its answer: they speak for the whole
// host or the gateway's own log. HSTS is the gateway's (from PUBLIC_URL), so an API's max-age=0 cannot
// switch it off for the site; Clear-Site-Data would delete the gateway's session cookie under it; and the
// request id stays the one in the gateway's access line.
const GATEWAY_OWNED = new Set(['strict-transport-security', 'clear-site-data', 'x-request-id']);

// Request headers that never go upstream whatever the route: hop-by-hop (a WebSocket handshake adds its
// own Connection/Upgrade pair back, websocket-proxy.ts), the client's own credentials and identity
// claims (only the gateway says who the user is), what the gateway sets itself, and `Expect` (Node
// answered `100-continue` already, and undici refuses to send it: the body is on its way).
const NEVER_FORWARDED = new Set([
  ...HOP_BY_HOP, 'host', 'authorization', 'cookie', 'forwarded', 'x-request-id',
  'x-user-sub', 'x-user-email', 'x-user-roles', 'expect',
  // A browser's own DPoP proof means nothing upstream: only the gateway holds a key (dpop: true routes).
  'dpop',
]);

/** Headers for the upstream: the client's minus hop-by-hop, its Authorization and our cookies; plus the bearer token and X-Forwarded-*. */
export function upstreamRequestHeaders(input: RequestHeaderInput): Record<string, string | string[]> {
  const { incoming } = input;
  const dropped = listedInConnection(incoming.connection);
  const out: Record<string, string | string[]> = {};
  // for…in over Node's header object: no entries array per request (it runs on every proxied request).
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || NEVER_FORWARDED.has(name) || name.startsWith('x-forwarded-')) continue;
    if (dropped !== NONE_LISTED && dropped.has(name)) continue;
    out[name] = value;
  }
  const { isGatewayCookie, isForwardedCookie } = input;
  const cookies = filterCookieHeader(incoming.cookie, isForwardedCookie ? (name) => isGatewayCookie(name) || !isForwardedCookie(name) : isGatewayCookie);
  if (cookies) out['cookie'] = cookies;
  if (input.accessToken !== undefined) out['authorization'] = input.authorization ?? `Bearer ${input.accessToken}`;
  if (input.userHeaders) Object.assign(out, input.userHeaders);
  out['x-request-id'] = input.requestId;

  const peer = input.peerAddress.startsWith('::ffff:') ? input.peerAddress.slice(7) : input.peerAddress;
  const chain = input.trustProxy ? headerText(incoming['x-forwarded-for']) : '';
  out['x-forwarded-for'] = chain ? `${chain}, ${peer}` : peer;
  const proto = input.trustProxy ? headerText(incoming['x-forwarded-proto']) : '';
  const host = input.trustProxy ? headerText(incoming['x-forwarded-host']) : '';
  out['x-forwarded-proto'] = proto || input.publicUrl.protocol.slice(0, -1);
  out['x-forwarded-host'] = host || input.publicUrl.host;
  return out;
}

/** Response headers for the browser: upstream's minus hop-by-hop and minus any Set-Cookie for a gateway cookie name. */
export function downstreamResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  isGatewayCookie: (name: string) => boolean,
): Record<string, string | string[]> {
  const raw: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) raw.push(name, one);
  }
  const out: Record<string, string | string[]> = {};
  const list = linesByName(downstreamHeaderList(raw, isGatewayCookie));
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const lines = list[i + 1]!;
    out[name] = name === 'set-cookie' && !Array.isArray(lines) ? [lines] : lines;
  }
  return out;
}

/** The list with a repeated name's lines gathered into one array, where the name first appears. */
export function linesByName(list: readonly string[]): (string | string[])[] {
  const out: (string | string[])[] = [];
  const at = new Map<string, number>();
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    const value = list[i + 1]!;
    const seen = at.get(name);
    if (seen === undefined) {
      at.set(name, out.length + 1);
      out.push(name, value);
    } else {
      const lines = out[seen]!;
      out[seen] = Array.isArray(lines) ? [...lines, value] : [lines, value];
    }
  }
  return out;
}

/**
 * The answer's headers for the browser as a flat [name, value, name, value…]
 * list, what one res.writeHead() takes: read from the upstream's raw list
 * (undici's Buffers, or Node's rawHeaders), names lower-cased, a repeated
 * header kept as its lines. Drops hop-by-hop headers, the ones the gateway
 * owns, those the Connection header lists, and every Set-Cookie for a
 * gateway cookie name. No header object is built on the way (undici's
 * parseHeaders, then a walk over it: docs/benchmarks.md).
 */
export function downstreamHeaderList(raw: readonly (Buffer | string)[], isGatewayCookie: (name: string) => boolean): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = undiciUtil.headerNameToString(raw[i]!);
    const rawValue = raw[i + 1]!;
    const value = typeof rawValue === 'string' ? rawValue : rawValue.toString('latin1');
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    if (GATEWAY_OWNED.has(name)) continue;
    if (name === 'set-cookie') {
      const cookieName = setCookieName(value);
      // A nameless cookie ("=bff_session=…") comes back from the browser as "bff_session=…": never let one through.
      if (cookieName === '' || isGatewayCookie(cookieName)) continue;
    }
    out.push(name, value);
  }
  const dropped = listedInConnection(connection);
  if (dropped === NONE_LISTED) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!dropped.has(out[i]!)) kept.push(out[i]!, out[i + 1]!);
  return kept;
}

/**
 * The Cookie header without the pairs `isDropped` names, pairs trimmed and
 * joined with `; `. One pass with indexOf: no split/map/filter/join arrays.
 */
function filterCookieHeader(header: string | undefined, isDropped: (name: string) => boolean): string {
  if (!header) return '';
  let out = '';
  let start = 0;
  while (start <= header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const pair = header.slice(start, end).trim();
    if (pair !== '') {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq).trim();
      if (!isDropped(name)) out = out === '' ? pair : `${out}; ${pair}`;
    }
    start = end + 1;
  }
  return out;
}

const NONE_LISTED: ReadonlySet<string> = new Set();

function listedInConnection(value: string | string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return NONE_LISTED;
  // Nearly every message says just `keep-alive` or `close`: names dropped as hop-by-hop anyway, so nothing
  // more to list, and no Set or arrays built for it on every proxied request.
  if (typeof value === 'string' && !value.includes(',')) {
    const name = value.trim().toLowerCase();
    return name === '' || HOP_BY_HOP.has(name) ? NONE_LISTED : new Set([name]);
  }
  return new Set(
    headerText(value)
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

function headerText(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/**
 * A Set-Cookie's name as a browser reads it (RFC 6265bis 5.6): the pair runs to
 * the first `;`, and a pair without `=` is a value with the empty name.
 */
function setCookieName(setCookie: string): string {
  const semicolon = setCookie.indexOf(';');
  const pair = semicolon === -1 ? setCookie : setCookie.slice(0, semicolon);
  const equals = pair.indexOf('=');
  return equals === -1 ? '' : pair.slice(0, equals).trim();
}
