/**
 * A reader of one cookie's value in a Cookie header, as the cookies package
 * reads it (what ctx.cookies.get uses): its pattern `(?:^|;) *<name>=([^;]*)`,
 * leftmost match, then one pair of surrounding quotes removed. Found with
 * indexOf instead of that regular expression and its match array: it runs on
 * every proxied request (docs/benchmarks.md). Equal to the pattern on any
 * header (test/unit/property/cookie-value.property.test.ts).
 */
export function cookieValueReader(name: string): (header: string | undefined) => string | undefined {
  const key = `${name}=`;
  return (header) => {
    if (!header) return undefined;
    for (let at = header.indexOf(key); at !== -1; at = header.indexOf(key, at + 1)) {
      // The pattern's `(?:^|;) *`: only spaces back to a `;` or the header's start.
      let before = at - 1;
      while (before >= 0 && header.charCodeAt(before) === 0x20) before--;
      if (before !== -1 && header.charCodeAt(before) !== 0x3b) continue;
      const start = at + key.length;
      const end = header.indexOf(';', start);
      const value = end === -1 ? header.slice(start) : header.slice(start, end);
      return value[0] === '"' ? value.slice(1, -1) : value;
    }
    return undefined;
  };
}
