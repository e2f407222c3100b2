/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON */
export type Obj = Record<string, any>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObj(a)) {
    if (!isObj(b)) return false;
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

export function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Removes null values from maps, recursively (server-side apply treats them as unset). */
export function dropNulls(v: any): any {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (isObj(v)) {
    const o: Obj = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) o[k] = dropNulls(x);
    return o;
  }
  return v;
}

/** Reads a dotted path (a.b.c) from an object. */
export function getPath(obj: unknown, path: string): unknown {
  let cur: any = obj;
  for (const p of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}
