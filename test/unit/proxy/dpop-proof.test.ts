import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateDpopKey } from '../../../src/oidc/dpop-key.js';
import { createDpopProofs } from '../../../src/proxy/dpop-proof.js';

const key = generateDpopKey();
const token = 'header.payload.signature';
const request = { key, accessToken: token, method: 'GET', origin: 'http://api.internal:8080', path: '/v1/items?page=2' };

async function claimsOf(proof: string) {
  const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
  return { payload, protectedHeader };
}

describe('DPoP proofs for proxied calls', () => {
  it('signs htm, htu without the query, iat, jti and ath with the session key; the header has only the public key', async () => {
    const proofs = createDpopProofs({ nowMs: () => 1_700_000_000_500 });
    const headers = proofs.forRequest(request).attach({ 'x-request-id': 'r1' });
    expect(headers['authorization']).toBe(`DPoP ${token}`);
    expect(headers['x-request-id']).toBe('r1');
    const { payload, protectedHeader } = await claimsOf(String(headers['dpop']));
    expect(payload).toMatchObject({ htm: 'GET', htu: 'http://api.internal:8080/v1/items', iat: 1_700_000_000 });
    expect(payload['ath']).toBe(createHash('sha256').update(token).digest('base64url'));
    expect(protectedHeader.jwk).toEqual({ kty: 'EC', crv: 'P-256', x: key.x, y: key.y });
    expect(await calculateJwkThumbprint(protectedHeader.jwk!)).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: key.x, y: key.y }));
  });

  it('never reuses a jti', async () => {
    const proofs = createDpopProofs();
    const jtis = new Set<unknown>();
    for (let i = 0; i < 50; i += 1) jtis.add((await claimsOf(String(proofs.forRequest(request).attach({})['dpop']))).payload['jti']);
    expect(jtis.size).toBe(50);
  });

  it("replays a bodiless call once on use_dpop_nonce with the upstream's nonce, and remembers it for that origin only", async () => {
    const proofs = createDpopProofs();
    const call = proofs.forRequest(request);
    call.attach({ accept: 'application/json' });
    const challenge = { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n-1' };
    const again = call.onAnswer(401, challenge, true)!;
    expect(again['accept']).toBe('application/json');
    expect((await claimsOf(String(again['dpop']))).payload['nonce']).toBe('n-1');
    // Later calls to that origin carry it from the start; another origin's do not.
    expect((await claimsOf(String(proofs.forRequest(request).attach({})['dpop']))).payload['nonce']).toBe('n-1');
    expect((await claimsOf(String(proofs.forRequest({ ...request, origin: 'http://other:1' }).attach({})['dpop']))).payload['nonce']).toBeUndefined();
  });

  it('replays every call that left with the old nonce, not only the first one to hear of the new', async () => {
    const proofs = createDpopProofs();
    // A burst after start-up (or a nonce rotation): both calls leave before any answer.
    const [first, second] = [proofs.forRequest(request), proofs.forRequest(request)];
    first.attach({});
    second.attach({});
    const challenge = { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n-1' };
    const replays = [first.onAnswer(401, challenge, true), second.onAnswer(401, challenge, true)];
    for (const replay of replays) expect((await claimsOf(String(replay?.['dpop']))).payload['nonce']).toBe('n-1');
  });

  it('does not replay a call with a body, a refusal for a nonce already sent, or a 401 for another reason', () => {
    const proofs = createDpopProofs();
    const challenge = { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n-1' };
    expect(proofs.forRequest(request).onAnswer(401, challenge, false)).toBeUndefined();
    // n-1 is known now (learnt from that answer): a call that sent it and is refused with it again gets no second try.
    const sentN1 = proofs.forRequest(request);
    sentN1.attach({});
    expect(sentN1.onAnswer(401, challenge, true)).toBeUndefined();
    expect(proofs.forRequest(request).onAnswer(401, { 'www-authenticate': 'DPoP error="invalid_token"', 'dpop-nonce': 'n-2' }, true)).toBeUndefined();
  });
});
