import fc from 'fast-check';
import { expect, it } from 'vitest';
import { requestIdFrom } from '../../../src/request-id.js';

// The access line writes the request id into its JSON without escaping (access-log.ts), and the id goes
// upstream and back as a header: whatever the client sent, what comes out must be safe in both.
it('gives back only letters, digits and ._:-, whatever X-Request-Id held', () => {
  const incoming = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.constantFrom('"', '\\', 'a"b', 'x\ny', 'ok\u2028', `${'a'.repeat(129)}`),
    fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
    fc.constant(undefined),
  );
  fc.assert(
    fc.property(incoming, (value) => {
      const id = requestIdFrom(value);
      expect(id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      expect(JSON.parse(`"${id}"`)).toBe(id);
    }),
    { numRuns: 3000 },
  );
});

it('keeps a safe id the client sent, and makes a UUID for anything else', () => {
  expect(requestIdFrom('trace-abc.1:2_3')).toBe('trace-abc.1:2_3');
  expect(requestIdFrom('a"b')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(requestIdFrom(['one', 'two'])).not.toBe('one');
});
