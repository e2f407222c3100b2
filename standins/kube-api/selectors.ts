/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON */
// Label selectors (=, ==, !=, in, notin, exists, !key) and field selectors (=, ==, != on dotted
// paths such as metadata.name and metadata.namespace).
import { getPath, type Obj } from './util.js';

export type Matcher = (obj: Obj) => boolean;

export class SelectorError extends Error {}

function splitTop(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur);
  return parts.map((p) => p.trim()).filter(Boolean);
}

export function parseLabelSelector(sel: string | null | undefined): Matcher {
  if (!sel || !sel.trim()) return () => true;
  const reqs: Matcher[] = splitTop(sel).map((req) => {
    let m: RegExpMatchArray | null;
    const labels = (o: Obj): Record<string, string> => o?.metadata?.labels ?? {};
    if ((m = req.match(/^([^\s!=()]+)\s+(in|notin)\s*\((.*)\)$/))) {
      const key = m[1];
      const values = m[3]
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '' || m![3].trim() === '');
      if (m[2] === 'in') return (o) => key in labels(o) && values.includes(labels(o)[key]);
      return (o) => !(key in labels(o)) || !values.includes(labels(o)[key]);
    }
    if ((m = req.match(/^!\s*([^\s!=()]+)$/))) {
      const key = m[1];
      return (o) => !(key in labels(o));
    }
    if ((m = req.match(/^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/))) {
      const [, key, op, value] = m;
      if (op === '!=') return (o) => labels(o)[key] !== value;
      return (o) => labels(o)[key] === value;
    }
    if ((m = req.match(/^([^\s!=()]+)$/))) {
      const key = m[1];
      return (o) => key in labels(o);
    }
    throw new SelectorError(`unable to parse requirement: ${JSON.stringify(req)}`);
  });
  return (o) => reqs.every((r) => r(o));
}

export function parseFieldSelector(sel: string | null | undefined): Matcher {
  if (!sel || !sel.trim()) return () => true;
  const reqs: Matcher[] = splitTop(sel).map((req) => {
    const m = req.match(/^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new SelectorError(`invalid selector: '${sel}'; can't understand '${req}'`);
    const [, path, op, value] = m;
    const read = (o: Obj): string => {
      const v = getPath(o, path);
      return v === undefined || v === null ? '' : String(v);
    };
    return op === '!=' ? (o) => read(o) !== value : (o) => read(o) === value;
  });
  return (o) => reqs.every((r) => r(o));
}

/** matchLabels + matchExpressions of a metav1.LabelSelector. */
export function labelSelectorMatcher(sel: any): Matcher {
  if (!sel) return () => false;
  const ml: Record<string, string> = sel.matchLabels ?? {};
  const exprs: any[] = sel.matchExpressions ?? [];
  return (o) => {
    const labels: Record<string, string> = o?.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
    for (const e of exprs) {
      const has = e.key in labels;
      const vals: string[] = e.values ?? [];
      if (e.operator === 'In' && !(has && vals.includes(labels[e.key]))) return false;
      if (e.operator === 'NotIn' && has && vals.includes(labels[e.key])) return false;
      if (e.operator === 'Exists' && !has) return false;
      if (e.operator === 'DoesNotExist' && has) return false;
    }
    return true;
  };
}
