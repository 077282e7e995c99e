import { describe, expect, it } from 'vitest';
import { REUSE_DETAIL, summariseRefreshes, type ProviderLedger } from '../../../bench/soak/provider-ledger.js';
import { longest503Window } from '../../../bench/soak/soak-report.js';

// The soak's musts are computed here: a wrong count would pass a run that lost refreshes or hid an outage.
describe('soak verdicts', () => {
  it('counts a second refresh inside one token lifetime as early, and reuse errors apart from other refusals', () => {
    const ledger: ProviderLedger = {
      issued: new Map([
        ['one-per-expiry', [0, 55_000, 110_500]],
        ['twice-for-one-expiry', [0, 55_000, 56_000]],
        ['never-refreshed', [0]],
      ]),
      refusedRefreshes: new Map([[REUSE_DETAIL, 1], ['refresh token not found', 2]]),
    };
    expect(summariseRefreshes(ledger, 60, 5)).toEqual({ refreshes: 4, sessionsRefreshed: 2, early: 1, maxPerExpiry: 2, reuseErrors: 1, refused: 3 });
  });

  it('measures the longest run of 503s no more than a second apart', () => {
    expect(longest503Window([5_100, 0, 500, 1_200, 5_000])).toEqual({ ms: 1_200, count: 3 });
    expect(longest503Window([])).toEqual({ ms: 0, count: 0 });
  });
});
