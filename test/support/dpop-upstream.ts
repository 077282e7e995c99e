/**
 * A resource server that accepts only DPoP-bound tokens (RFC 9449 §7), as a
 * FAPI API would: every request must carry `Authorization: DPoP <token>` and a
 * proof whose signature checks with its own embedded key (jose), with this
 * request's method (htm) and URL (htu, without query), the token's hash (ath),
 * a fresh iat, a jti never seen before, and a key whose thumbprint is the
 * token's `cnf.jkt`; the token itself must be signed by the provider.
 * Optionally it demands its own nonce (`DPoP-Nonce`, §9).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, createRemoteJWKSet, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { WebSocketServer } from 'ws';

export interface DpopCall {
  readonly method: string;
  readonly url: string;
  /** `accepted`, or what was wrong (`replayed jti`, `htu`, `ath`, `cnf.jkt`, `nonce`, ...). */
  readonly outcome: string;
  readonly authorization: string | undefined;
  readonly proof: string | undefined;
  readonly jti?: string;
  readonly htu?: string;
  readonly nonce?: string;
  /** RFC 7638 thumbprint of the proof's key. */
  readonly jkt?: string;
  /** The access token's `cnf.jkt`. */
  readonly tokenJkt?: string;
  readonly bodyBytes: number;
}

export interface DpopUpstream {
  readonly url: string;
  /** Every request, in order of arrival. */
  readonly calls: DpopCall[];
  /** Demand a nonce from now on (a new one each time this is called with true). */
  requireNonce(on: boolean): void;
  close(): Promise<void>;
}

const MAX_IAT_SKEW_S = 60;

export async function startDpopUpstream(options: { issuer: string }): Promise<DpopUpstream> {
  const providerKeys = createRemoteJWKSet(new URL(`${options.issuer}/protocol/openid-connect/certs`));
  const seenJti = new Set<string>();
  const calls: DpopCall[] = [];
  let nonce: string | undefined;
  let origin = '';

  const verify = async (req: IncomingMessage, bodyBytes: number): Promise<DpopCall> => {
    const authorization = req.headers.authorization;
    const proof = typeof req.headers.dpop === 'string' ? req.headers.dpop : undefined;
    const url = new URL(req.url ?? '/', origin);
    const base = { method: req.method ?? '', url: url.href, authorization, proof, bodyBytes };
    const refuse = (outcome: string, more: Partial<DpopCall> = {}): DpopCall => ({ ...base, ...more, outcome });
    if (!authorization?.startsWith('DPoP ')) return refuse('not DPoP');
    if (!proof) return refuse('no proof');
    const token = authorization.slice(5);
    let tokenJkt: string | undefined;
    try {
      const { payload } = await jwtVerify(token, providerKeys, { issuer: options.issuer });
      tokenJkt = (payload['cnf'] as { jkt?: string } | undefined)?.jkt;
    } catch {
      return refuse('token signature');
    }
    let claims: Record<string, unknown>;
    let jwk: JWK;
    try {
      const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
      claims = verified.payload;
      jwk = verified.protectedHeader.jwk!;
    } catch {
      return refuse('proof signature', { tokenJkt });
    }
    const jkt = await calculateJwkThumbprint(jwk);
    const seen = { jti: String(claims['jti']), htu: String(claims['htu']), jkt, tokenJkt, ...(claims['nonce'] ? { nonce: String(claims['nonce']) } : {}) };
    if ('d' in jwk) return refuse('private key in proof', seen);
    if (claims['htm'] !== req.method) return refuse('htm', seen);
    if (claims['htu'] !== `${url.origin}${url.pathname}`) return refuse('htu', seen);
    if (claims['ath'] !== createHash('sha256').update(token).digest('base64url')) return refuse('ath', seen);
    if (typeof claims['iat'] !== 'number' || Math.abs(Date.now() / 1000 - claims['iat']) > MAX_IAT_SKEW_S) return refuse('iat', seen);
    if (tokenJkt === undefined || tokenJkt !== jkt) return refuse('cnf.jkt', seen);
    if (nonce !== undefined && claims['nonce'] !== nonce) return refuse('nonce', seen);
    if (typeof claims['jti'] !== 'string' || seenJti.has(claims['jti'])) return refuse('replayed jti', seen);
    seenJti.add(claims['jti']);
    return { ...base, ...seen, outcome: 'accepted' };
  };

  const server: Server = createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    req.on('end', () => {
      void verify(req, bodyBytes).then((call) => {
        calls.push(call);
        if (nonce !== undefined) res.setHeader('DPoP-Nonce', nonce);
        if (call.outcome === 'accepted') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, jti: call.jti, jkt: call.jkt, bodyBytes }));
          return;
        }
        const error = call.outcome === 'nonce' ? 'use_dpop_nonce' : call.outcome === 'not DPoP' ? 'invalid_token' : 'invalid_dpop_proof';
        res
          .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': `DPoP error="${error}", algs="ES256"` })
          .end(JSON.stringify({ error, reason: call.outcome }));
      });
    });
  });
  // A WebSocket handshake is a GET like any other: its proof is checked the same way, then it says hello.
  const sockets = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    void verify(req, 0).then((call) => {
      calls.push(call);
      if (call.outcome !== 'accepted') {
        socket.end(`HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: DPoP error="invalid_dpop_proof"\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      sockets.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify({ ok: true, jti: call.jti })));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: origin,
    calls,
    requireNonce(on) {
      nonce = on ? randomBytes(16).toString('base64url') : undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of sockets.clients) ws.terminate();
        sockets.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
