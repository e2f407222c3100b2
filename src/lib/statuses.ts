// Accepted HTTP status lists: "200-399", "200,204,300-399", "2xx,304". Pure.
import type { StatusRanges } from './types.js';
import { splitList } from './lines.js';

export const STATUS_FORM =
  'use comma-separated status codes 100-599 or ranges low-high (or classes like 2xx), e.g. "200-399" or "200,204,300-399"';

function code(s: string, item: string): number {
  if (!/^\d{3}$/.test(s)) throw new Error(`has "${item}" which is not a status code or range`);
  const n = Number(s);
  if (n < 100 || n > 599) throw new Error(`has ${n} which is outside 100-599`);
  return n;
}

/** Parses a status list into inclusive ranges. Throws Error(problem) on bad text. */
export function parseStatusRanges(text: string): StatusRanges {
  const items = splitList(text);
  if (items.length === 0) throw new Error('is empty');
  const ranges: StatusRanges = [];
  for (const item of items) {
    if (item === '') throw new Error('has an empty item');
    const cls = /^([1-5])xx$/i.exec(item);
    if (cls) {
      ranges.push([Number(cls[1]) * 100, Number(cls[1]) * 100 + 99]);
      continue;
    }
    const m = /^(\S+?)\s*-\s*(\S+)$/.exec(item);
    if (m) {
      const lo = code(m[1], item);
      const hi = code(m[2], item);
      if (lo > hi) throw new Error(`has range "${item}" whose low end is above its high end`);
      ranges.push([lo, hi]);
    } else {
      const n = code(item, item);
      ranges.push([n, n]);
    }
  }
  return ranges;
}

export function statusAccepted(status: number, ranges: StatusRanges): boolean {
  return ranges.some(([lo, hi]) => status >= lo && status <= hi);
}
