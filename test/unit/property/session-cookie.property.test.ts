import fc from 'fast-check';
import { expect, it } from 'vitest';
import { createSessionCookieCodec, newSessionId } from '../../../src/session/session-cookie.js';

const codec = createSessionCookieCodec(['p'.repeat(32)]);
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

it('never throws and accepts nothing but a value it signed', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.stringMatching(/^[\w-]{43}\.[\w-]{43}$/)), (value) => {
      expect(codec.verify(value)).toBeNull();
    }),
    { numRuns: 3000 },
  );
});

it('refuses a signed value with any one character changed', () => {
  fc.assert(
    fc.property(fc.nat(86), fc.nat(63), (position, replacement) => {
      const value = codec.sign(newSessionId());
      const original = value[position]!;
      const swapped = B64URL[replacement]! === original ? B64URL[(replacement + 1) % 64]! : B64URL[replacement]!;
      const mutated = value.slice(0, position) + swapped + value.slice(position + 1);
      expect(codec.verify(mutated)).toBeNull();
    }),
    { numRuns: 2000 },
  );
});
