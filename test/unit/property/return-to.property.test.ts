import fc from 'fast-check';
import { expect, it } from 'vitest';
import { safeReturnTo } from '../../../src/http/return-to.js';

const APP = 'https://app.example';
// Characters attackers combine: slashes, backslashes, dots, percent escapes, schemes, controls.
const hostile = fc.stringMatching(/^[/\\.%:a-z0-9@?#\t\r\n -]{0,40}$/);
const escapes = fc.constantFrom('%2f', '%2F', '%5c', '%5C', '%25', '%2e', '%09', '%0d%0a', '%00');
const built = fc.array(fc.oneof(hostile, escapes, fc.constantFrom('/', '//', '\\', 'evil.example', 'javascript:')), { maxLength: 8 }).map((parts) => parts.join(''));

it('never yields anything but / or the input itself', () => {
  fc.assert(
    fc.property(fc.oneof(hostile, built, fc.string()), (input) => {
      const out = safeReturnTo(input);
      expect(out === '/' || out === input).toBe(true);
    }),
    { numRuns: 3000 },
  );
});

it('only yields paths that stay on our origin however often a browser or proxy decodes them', () => {
  fc.assert(
    fc.property(fc.oneof(hostile, built), (input) => {
      let out = safeReturnTo(input);
      for (let round = 0; round < 4; round++) {
        expect(out.startsWith('/') && !out.startsWith('//') && !out.includes('\\')).toBe(true);
        expect(new URL(out, APP).origin).toBe(APP);
        try {
          out = decodeURIComponent(out);
        } catch {
          break;
        }
      }
    }),
    { numRuns: 3000 },
  );
});

it('keeps ordinary application paths', () => {
  const segment = fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/);
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), (segments) => {
      const path = `/${segments.join('/')}`;
      expect(safeReturnTo(path)).toBe(path);
    }),
  );
});
