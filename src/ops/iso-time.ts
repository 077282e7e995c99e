/**
 * `new Date(ms).toISOString()` for the access line's `time`, made cheap. V8
 * formats an ISO date through its string stream and snprintf, about 7 000
 * instructions a call (`npm run bench:instructions` at LOG_LEVEL=info); here
 * the text up to the minute is made once per minute and the seconds and
 * milliseconds are appended as digits. The same millisecond gives the same
 * string back. Whole milliseconds only, as Date.now() gives them.
 */
let lastMs = Number.NaN;
let lastText = '';
let minuteStart = Number.NaN;
/** "YYYY-MM-DDTHH:MM:" of the minute that starts at minuteStart. */
let minutePrefix = '';

export function isoTime(ms: number): string {
  if (ms === lastMs) return lastText;
  let intoMinute = ms - minuteStart;
  if (!(intoMinute >= 0 && intoMinute < 60_000)) {
    intoMinute = ((ms % 60_000) + 60_000) % 60_000; // positive before 1970 too
    minuteStart = ms - intoMinute;
    // Cut before "ss.mmmZ": years outside 0000–9999 (±YYYYYY) keep a prefix of their own length.
    minutePrefix = new Date(minuteStart).toISOString().slice(0, -7);
  }
  const seconds = Math.floor(intoMinute / 1000);
  const millis = intoMinute - seconds * 1000;
  lastMs = ms;
  lastText = `${minutePrefix}${seconds < 10 ? '0' : ''}${seconds}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
  return lastText;
}
