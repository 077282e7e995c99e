import { createMemoryStore } from '../../../src/session/memory-store.js';
import { runSessionStoreContract } from '../../support/session-store-contract.js';

runSessionStoreContract('memory', async () => {
  let now = Date.UTC(2026, 0, 1);
  const store = createMemoryStore({ clock: () => now });
  return {
    store,
    now: () => now,
    advance: async (ms) => {
      now += ms;
    },
    close: () => store.close(),
  };
});
