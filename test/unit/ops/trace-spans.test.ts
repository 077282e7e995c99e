import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import type { OidcClient } from '../../../src/oidc/oidc-client.js';
import { createTraceSpans } from '../../../src/ops/trace-spans.js';

describe('traced provider client', () => {
  it('hands every argument to the client: a DPoP key, max_age and the expected subject survive tracing', async () => {
    const calls: Record<string, unknown[]> = {};
    const record =
      (name: string) =>
      (...args: unknown[]) => {
        calls[name] = args;
        return Promise.resolve(null);
      };
    const client = {
      exchangeCode: record('exchangeCode'),
      refresh: record('refresh'),
      grant: record('grant'),
      userInfo: record('userInfo'),
      revoke: record('revoke'),
    } as unknown as OidcClient;
    // The no-op tracer of the bare API: spans are made and ended, nothing is exported.
    const traced = createTraceSpans(trace.getTracer('test')).traceOidc(client);
    const key = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' } as const;
    const url = new URL('https://bff.example/auth/callback?code=c');
    const checks = { state: 's', nonce: 'n', codeVerifier: 'v', maxAge: 300 };

    await traced.exchangeCode(url, checks, key);
    await traced.refresh('rt', key);
    await traced.grant('client_credentials', { scope: 'a' });
    await traced.userInfo('at', 'sub-1', key);
    await traced.revoke('rt', 'refresh_token');

    expect(calls).toEqual({
      exchangeCode: [url, checks, key],
      refresh: ['rt', key],
      grant: ['client_credentials', { scope: 'a' }],
      userInfo: ['at', 'sub-1', key],
      revoke: ['rt', 'refresh_token'],
    });
  });
});
