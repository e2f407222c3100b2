// Durations like Go's time.ParseDuration, restricted to h, m, s, ms. Pure.
//   "500ms", "30s", "5m", "1h", "1m30s", "1.5m", "1h2m3s4ms"; "0" alone is zero.
// A bare number other than 0 is rejected: "30" could mean seconds or milliseconds.

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|h|m|s))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;

/** Human description of the accepted form, for error messages. */
export const DURATION_FORM =
  'use a number with unit ms, s, m or h, e.g. "500ms", "30s", "5m", "1h" or "1m30s"';

/** Parses a duration into whole milliseconds. Throws Error(problem) on bad text. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (t === '') throw new Error('is empty');
  if (t === '0') return 0;
  if (/^\d+(?:\.\d+)?$/.test(t)) throw new Error('has no unit');
  if (t.startsWith('-')) throw new Error('is negative');
  if (!WHOLE.test(t)) throw new Error('is not a duration');
  let ms = 0;
  for (const m of t.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return Math.round(ms);
}
