import { describe, expect, it } from 'vitest';
import { isContentHashed } from '../../../src/http/static-files.js';

describe('isContentHashed', () => {
  it.each([
    ['index-BQ1zv3xd.js', true],
    ['app.3f9a2c1b.js', true],
    ['main.7d2c0e4f91a3b5c6.chunk.js', true],
    ['vendor-DfGhJkLm.css', true],
    ['inter-variable.woff2', false],
    ['sw-registration.js', false],
    ['favicon.ico', false],
    ['Dashboard2023.js', false],
    ['bootstrap.bundle.min.js', false],
    ['index.html', false],
  ])('%s: %s', (name, hashed) => {
    expect(isContentHashed(name)).toBe(hashed);
  });
});
