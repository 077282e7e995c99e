/**
 * What a key holds, as text a reader of the database would see: read with
 * the command for its type (DUMP is RDB-encoded and LZF-compresses long
 * values, so a token inside could be hidden from a substring search), plus
 * every base64/base64url run inside it decoded, so a token that was merely
 * encoded is found too.
 */
export async function redisStoredText(cli: (...args: string[]) => Promise<string>, key: string): Promise<string> {
  const type = await cli('TYPE', key);
  const read: Record<string, string[]> = {
    string: ['GET', key],
    hash: ['HGETALL', key],
    set: ['SMEMBERS', key],
    zset: ['ZRANGE', key, '0', '-1', 'WITHSCORES'],
    list: ['LRANGE', key, '0', '-1'],
    stream: ['XRANGE', key, '-', '+'],
  };
  const command = read[type];
  if (!command) throw new Error(`${key} has type ${type}, which this reader does not know`);
  const raw = await cli(...command);
  return [raw, ...decodedRuns(raw)].join('\n');
}

function decodedRuns(text: string): string[] {
  const decoded: string[] = [];
  for (const [run] of text.matchAll(/[A-Za-z0-9+/_-]{16,}={0,2}/g)) {
    const bytes = Buffer.from(run.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
    const utf8 = bytes.toString('utf8');
    // Only text is worth searching: ciphertext decodes to noise.
    if (/^[\t\n\r\x20-\x7e]+$/.test(utf8)) decoded.push(utf8);
  }
  return decoded;
}
