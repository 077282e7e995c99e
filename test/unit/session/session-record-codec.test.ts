import { describe, expect, it } from 'vitest';
import { generateDpopKey } from '../../../src/oidc/dpop-key.js';
import { createSessionRecordCodec } from '../../../src/session/session-record-codec.js';
import type { SessionRecord } from '../../../src/session/session-store.js';
import { createTokenSealer } from '../../../src/session/token-sealer.js';

const codec = createSessionRecordCodec(createTokenSealer(['a'.repeat(32)]));
const record: SessionRecord = {
  id: 'id-1',
  sub: 'u1',
  user_info: { name: 'U' },
  tokens: { access_token: 'at', token_type: 'DPoP' },
  created_at_ms: 1_700_000_000_000,
  expires_at_ms: 1_700_000_100_000,
};

describe('session record codec: the DPoP key', () => {
  it('seals the key on its own and reads it back', async () => {
    const dpopKey = generateDpopKey();
    const json = await codec.encode({ ...record, dpop_key: dpopKey });
    expect(json).not.toContain(dpopKey.d);
    expect(json).not.toContain(dpopKey.x);
    expect(JSON.parse(json).dpop_key.split('.')).toHaveLength(5);
    expect((await codec.decode('id-1', json))?.dpop_key).toEqual(dpopKey);
  });

  it('reads records without a key as before, and adds no field to them', async () => {
    const json = await codec.encode(record);
    expect(JSON.parse(json)).not.toHaveProperty('dpop_key');
    const decoded = await codec.decode('id-1', json);
    expect(decoded).toEqual(record);
  });
});
