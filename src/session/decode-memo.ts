import { deepFreeze } from './deep-freeze.js';
import type { SessionRecordCodec } from './session-record-codec.js';
import type { SessionRecord } from './session-store.js';

/**
 * Wraps a codec so that decoding the very same stored bytes of a session
 * twice costs a string comparison instead of a JSON parse, an AES-GCM
 * decryption and an inflate (~33 µs for a Keycloak-sized record).
 *
 * This is not a session cache: the store still reads Redis on every request,
 * and a record is reused only when Redis returned exactly the bytes it was
 * decoded from. Any write, by any replica, changes the bytes (each seal has a
 * fresh IV), so nothing here can outlive a logout or a refresh.
 *
 * Bounded: the oldest entry goes when `maxEntries` is reached. Records are
 * frozen because every request of a session now shares one object.
 */
export function memoizeDecode(codec: SessionRecordCodec, maxEntries: number): SessionRecordCodec {
  const byId = new Map<string, { json: string; record: SessionRecord }>();
  return {
    encode: (record) => codec.encode(record),
    async decode(id, json) {
      const seen = byId.get(id);
      if (seen?.json === json) return seen.record;
      const record = await codec.decode(id, json);
      if (record === null) {
        byId.delete(id);
        return null;
      }
      if (!seen && byId.size >= maxEntries) byId.delete(byId.keys().next().value as string);
      byId.set(id, { json, record: deepFreeze(record) });
      return record;
    },
  };
}
