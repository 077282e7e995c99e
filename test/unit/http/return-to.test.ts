import { describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../../src/http/return-to.js';

describe('safeReturnTo', () => {
  it.each(['/', '/app', '/app/page?x=1#frag', '/a%20b', '/path/with:colon'])('keeps the same-origin path %s', (path) => {
    expect(safeReturnTo(path)).toBe(path);
  });

  it.each([
    '//evil.example',
    '///evil.example',
    'https://evil.example/',
    'http:/evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    '/%2F%2Fevil.example',
    '/%2f/evil.example',
    '%2F%2Fevil.example',
    '/%5Cevil.example',
    '/%255Cevil.example',
    'javascript:alert(1)',
    '/\tevil',
    '/\r\nSet-Cookie:x=1',
    ' /app',
    'app',
    '',
    '/%E0%A4%A',
  ])('falls back to / for %j', (path) => {
    expect(safeReturnTo(path)).toBe('/');
  });

  it('falls back to / for anything that is not one string', () => {
    expect(safeReturnTo(['/a', '/b'])).toBe('/');
    expect(safeReturnTo(undefined)).toBe('/');
    expect(safeReturnTo(`/${'a'.repeat(5000)}`)).toBe('/');
  });
});
