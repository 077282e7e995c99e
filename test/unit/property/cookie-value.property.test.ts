import type { IncomingMessage, ServerResponse } from 'node:http';
import fc from 'fast-check';
import Koa from 'koa';
import { expect, it } from 'vitest';
import { cookieValueReader } from '../../../src/http/cookie-value.js';

// What the Koa path reads: ctx.cookies.get (the cookies package) on a request with this Cookie header.
const app = new Koa();
const viaKoa = (header: string, name: string): string | undefined =>
  app.createContext({ headers: { cookie: header }, socket: {} } as IncomingMessage, {} as ServerResponse).cookies.get(name);

// Headers built from the characters that matter to the reading (separators, spaces, quotes, `=`, parts of the
// name) so that near-misses (`xbff_session=`, `bff_session =`, `a=bff_session=`, a `;` inside quotes) come up often.
const piece = fc.constantFrom('bff_session', 'bff_session=', 'x', '=', ';', ' ', '  ', '"', 'v1', ';bff_session=', '; ', '\t', 'é');
const header = fc.array(piece, { maxLength: 14 }).map((parts) => parts.join(''));

it("reads the value Koa's ctx.cookies.get reads, on any header", () => {
  const read = cookieValueReader('bff_session');
  fc.assert(
    fc.property(header, (h) => {
      expect(read(h)).toBe(viaKoa(h, 'bff_session'));
    }),
    { numRuns: 5000 },
  );
});

it('takes the name literally, whatever a regular expression would make of it', () => {
  const read = cookieValueReader('__Host-a.b');
  expect(read('__Host-aXb=1; __Host-a.b=2')).toBe('2');
  expect(read('__Host-a.b=2')).toBe(viaKoa('__Host-a.b=2', '__Host-a.b'));
});

it('reads nothing from an absent or empty header', () => {
  const read = cookieValueReader('bff_session');
  expect(read(undefined)).toBeUndefined();
  expect(read('')).toBeUndefined();
});
