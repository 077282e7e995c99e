/**
 * `npx tsx bench/dpop-proof-cost.ts`: what one DPoP proof costs the gateway
 * (src/proxy/dpop-proof.ts: SHA-256 of the token for `ath`, a random jti, the
 * ES256 signature), in microseconds per proof over DPOP_PROOFS proofs (10 000),
 * after a warm-up. Single-threaded CPU time: on a loaded machine it only grows.
 */
import { generateDpopKey } from '../src/oidc/dpop-key.js';
import { createDpopProofs } from '../src/proxy/dpop-proof.js';

const count = Number(process.env['DPOP_PROOFS'] ?? 10_000);
const proofs = createDpopProofs();
const key = generateDpopKey();
// A Keycloak-sized access token (about 1.3 KB), as `ath` hashes the whole token.
const accessToken = 'x'.repeat(1300);
const one = () => proofs.forRequest({ key, accessToken, method: 'GET', origin: 'http://api.internal:8080', path: '/api/items/42?page=2' }).attach({});

for (let i = 0; i < 1_000; i += 1) one();
const cpuBefore = process.cpuUsage();
const started = process.hrtime.bigint();
for (let i = 0; i < count; i += 1) one();
const wallUs = Number(process.hrtime.bigint() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
console.log(
  `${count} proofs: ${(wallUs / count).toFixed(1)} µs wall, ${((cpu.user + cpu.system) / count).toFixed(1)} µs CPU per proof (node ${process.version})`,
);
