import type { Adapter, AdapterPayload } from 'oidc-provider';

/**
 * In-memory storage for the dev identity provider, one per provider instance.
 *
 * oidc-provider's own memory adapter works too, but it warns on every start
 * ("development-only in-memory adapter") and cannot be enumerated. Owning the
 * storage lets the dev provider list sessions (`endSessionsOf`) and register
 * clients at run time. Scans are linear: a dev provider holds a few hundred
 * entries at most.
 */
export interface DevMemoryStore {
  /** Adapter factory for oidc-provider's `adapter` option (`name` = model name). */
  adapterFor(name: string): Adapter;
  /** Live (unexpired) payloads of one model, keyed by id. */
  entries(model: string): Array<[id: string, payload: AdapterPayload]>;
  upsert(model: string, id: string, payload: AdapterPayload, expiresInSeconds?: number): void;
  destroy(model: string, id: string): void;
  /** Deletes every artifact (tokens, codes) of a grant, and the grant itself. */
  revokeGrant(grantId: string): void;
}

interface Entry {
  payload: AdapterPayload;
  /** Epoch milliseconds; Infinity = no expiry. */
  expiresAt: number;
}

// Models whose payloads carry a grantId (see oidc-provider's memory adapter).
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

export function createDevMemoryStore(): DevMemoryStore {
  const models = new Map<string, Map<string, Entry>>();

  function table(model: string): Map<string, Entry> {
    let found = models.get(model);
    if (!found) {
      found = new Map();
      models.set(model, found);
    }
    return found;
  }

  function live(model: string, id: string): AdapterPayload | undefined {
    const entries = table(model);
    const entry = entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  function entries(model: string): Array<[string, AdapterPayload]> {
    const now = Date.now();
    const out: Array<[string, AdapterPayload]> = [];
    for (const [id, entry] of table(model)) {
      if (entry.expiresAt <= now) table(model).delete(id);
      else out.push([id, entry.payload]);
    }
    return out;
  }

  function upsert(model: string, id: string, payload: AdapterPayload, expiresInSeconds?: number): void {
    const expiresAt = typeof expiresInSeconds === 'number' ? Date.now() + expiresInSeconds * 1000 : Infinity;
    table(model).set(id, { payload, expiresAt });
  }

  function destroy(model: string, id: string): void {
    table(model).delete(id);
  }

  function revokeGrant(grantId: string): void {
    for (const model of GRANTABLE) {
      for (const [id, payload] of entries(model)) {
        if (payload.grantId === grantId) destroy(model, id);
      }
    }
    destroy('Grant', grantId);
  }

  function adapterFor(model: string): Adapter {
    return {
      async upsert(id, payload, expiresIn) {
        upsert(model, id, payload, expiresIn);
      },
      async find(id) {
        return live(model, id);
      },
      async findByUid(uid) {
        return entries(model).find(([, payload]) => payload.uid === uid)?.[1];
      },
      async findByUserCode(userCode) {
        return entries(model).find(([, payload]) => payload.userCode === userCode)?.[1];
      },
      async consume(id) {
        const payload = live(model, id);
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        destroy(model, id);
      },
      async revokeByGrantId(grantId) {
        for (const [id, payload] of entries(model)) {
          if (payload.grantId === grantId) destroy(model, id);
        }
      },
    };
  }

  return { adapterFor, entries, upsert, destroy, revokeGrant };
}
