/**
 * Every key the gateway writes, in one place. Session records are exactly
 * `${prefix}${id}` and nothing else matches `${prefix}*`; everything else lives
 * under `bff:` and expires. Keys not tied to one session carry the prefix too
 * (`bff:session:idx:…`), so two deployments with different prefixes can share
 * a Redis without sharing session counts, indexes or logout-token marks. Per-session keys carry `{${prefix}${id}}` as hash
 * tag, which hashes like the record's own key, so they share its Cluster slot
 * and can be touched together by one script.
 */
export interface RedisKeys {
  session(id: string): string;
  settings(id: string): string;
  lock(id: string): string;
  /** Hash of per-session values (exchanged tokens), field = name. */
  sessionValues(id: string): string;
  shared(key: string): string;
  sidIndex(sid: string): string;
  subIndex(sub: string): string;
  /** Sorted set of every live session id scored by expiry: counts sessions without SCAN. */
  readonly allSessions: string;
  once(key: string): string;
  mark(key: string): string;
  counter(key: string): string;
}

export function createRedisKeys(prefix: string): RedisKeys {
  const tag = (id: string) => `{${prefix}${id}}`;
  // sid/sub come from the provider: base64url keeps braces (hash tags) and
  // separators out of key names whatever they contain.
  const safe = (value: string) => Buffer.from(value).toString('base64url');
  const ns = `bff:${prefix}`;
  return {
    session: (id) => `${prefix}${id}`,
    settings: (id) => `bff:settings:${tag(id)}`,
    lock: (id) => `bff:lock:${tag(id)}`,
    sessionValues: (id) => `bff:values:${tag(id)}`,
    shared: (key) => `${ns}shared:${safe(key)}`,
    sidIndex: (sid) => `${ns}idx:sid:${safe(sid)}`,
    subIndex: (sub) => `${ns}idx:sub:${safe(sub)}`,
    allSessions: `${ns}idx:sessions`,
    once: (key) => `${ns}once:${safe(key)}`,
    mark: (key) => `${ns}mark:${safe(key)}`,
    counter: (key) => `${ns}count:${safe(key)}`,
  };
}
