import type { IncomingHttpHeaders } from 'node:http';

// RFC 9110 §7.6.1: connection-specific fields never cross a proxy.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

export interface RequestHeaderInput {
  incoming: IncomingHttpHeaders;
  /** Undefined: no Authorization at all (a route with `token: none`, or `auth: optional` without a session). */
  accessToken: string | undefined;
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

/** Headers for the upstream: the client's minus hop-by-hop, its Authorization and our cookies; plus the bearer token and X-Forwarded-*. */
export function upstreamRequestHeaders(input: RequestHeaderInput): Record<string, string | string[]> {
  const { incoming } = input;
  const dropped = listedInConnection(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    // A WebSocket handshake adds its own Connection/Upgrade pair back (websocket-proxy.ts).
    if (HOP_BY_HOP.has(name)) continue;
    if (dropped.has(name) || name === 'host' || name === 'authorization' || name === 'cookie') continue;
    if (name.startsWith('x-forwarded-') || name === 'forwarded' || name === 'x-request-id') continue;
    // Only the gateway may say who the user is: a client's own copies never pass, whatever the route.
    if (name === 'x-user-sub' || name === 'x-user-email' || name === 'x-user-roles') continue;
    // Node answered `Expect: 100-continue` already (and undici refuses to send it): the body is on its way.
    if (name === 'expect') continue;
    out[name] = value;
  }
  const { isGatewayCookie, isForwardedCookie } = input;
  const cookies = filterCookieHeader(incoming.cookie, isForwardedCookie ? (name) => isGatewayCookie(name) || !isForwardedCookie(name) : isGatewayCookie);
  if (cookies) out['cookie'] = cookies;
  if (input.accessToken !== undefined) out['authorization'] = `Bearer ${input.accessToken}`;
  if (input.userHeaders) Object.assign(out, input.userHeaders);
  out['x-request-id'] = input.requestId;

  const peer = input.peerAddress.replace(/^::ffff:/, '');
  const chain = input.trustProxy ? headerText(incoming['x-forwarded-for']) : '';
  out['x-forwarded-for'] = chain ? `${chain}, ${peer}` : peer;
  const proto = input.trustProxy ? headerText(incoming['x-forwarded-proto']) : '';
  const host = input.trustProxy ? headerText(incoming['x-forwarded-host']) : '';
  out['x-forwarded-proto'] = proto || input.publicUrl.protocol.replace(':', '');
  out['x-forwarded-host'] = host || input.publicUrl.host;
  return out;
}

/** Response headers for the browser: upstream's minus hop-by-hop and minus any Set-Cookie for a gateway cookie name. */
export function downstreamResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  isGatewayCookie: (name: string) => boolean,
): Record<string, string | string[]> {
  const dropped = listedInConnection(headers['connection']);
  const out: Record<string, string | string[]> = {};
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name)) continue;
    if (name === 'set-cookie') {
      const kept = (Array.isArray(value) ? value : [value]).filter((c) => !isGatewayCookie(c.split('=')[0]!.trim()));
      if (kept.length > 0) out[name] = kept;
      continue;
    }
    out[name] = value;
  }
  return out;
}

function filterCookieHeader(header: string | undefined, isDropped: (name: string) => boolean): string {
  if (!header) return '';
  return header
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c !== '' && !isDropped(c.split('=')[0]!.trim()))
    .join('; ');
}

const NONE_LISTED: ReadonlySet<string> = new Set();

function listedInConnection(value: string | string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return NONE_LISTED;
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
