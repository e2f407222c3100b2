// Summaries and markdown tables for the benchmark report (pure, no I/O).

export function sorted(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Median (mean of the two middle values for an even count); NaN for none. */
export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile, q in 0..1. */
export function pct(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** "median (min–max)" with `digits` decimals; "–" for no values. */
export function mmm(xs: number[], digits = 0, unit = ''): string {
  if (!xs.length) return '–';
  const f = (x: number) => x.toFixed(digits) + unit;
  const s = sorted(xs);
  return s[0] === s[s.length - 1] ? f(s[0]) : `${f(median(s))} (${f(s[0])}–${f(s[s.length - 1])})`;
}

export function table(head: string[], rows: Array<Array<string | number>>, align?: string[]): string {
  const al = align ?? head.map((_, i) => (i === 0 ? '---' : '---:'));
  return [
    `| ${head.join(' | ')} |`,
    `|${al.join('|')}|`,
    ...rows.map((r) => `| ${r.map(String).join(' | ')} |`),
  ].join('\n');
}
