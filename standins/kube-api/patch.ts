/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON */
// JSON patch (RFC 6902), JSON merge patch (RFC 7386) and a strategic merge patch good enough for
// helm 3's three-way patches and kubectl.
import { clone, deepEqual, isObj, type Obj } from './util.js';

export class PatchError extends Error {
  constructor(
    message: string,
    readonly code: number = 422,
  ) {
    super(message);
  }
}

/**
 * Merge keys of the lists that built-in kinds merge item by item (patchMergeKey / listMapKeys).
 * Custom resources have none (Istio's and Gateway API's CRDs declare no list keys), so their
 * lists are atomic.
 */
export function listKeyFor(field: string, items: unknown[], builtin: boolean): string[] | undefined {
  if (field === 'ownerReferences') return ['uid'];
  if (!builtin) return undefined;
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
      return ['name'];
    case 'volumeMounts':
      return ['mountPath'];
    case 'volumeDevices':
      return ['devicePath'];
    case 'hostAliases':
      return ['ip'];
    case 'conditions':
      return ['type'];
    case 'ports': {
      if (items.some((i) => isObj(i) && 'containerPort' in i)) return ['containerPort'];
      if (items.some((i) => isObj(i) && 'port' in i)) return ['port'];
      return undefined;
    }
    default:
      return undefined;
  }
}

export function sameKey(a: unknown, b: unknown, key: string[]): boolean {
  return isObj(a) && isObj(b) && key.every((k) => deepEqual(a[k], b[k]));
}

// ---------------------------------------------------------------- JSON patch (RFC 6902)

function unescapePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new PatchError(`invalid JSON pointer ${JSON.stringify(p)}`);
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function resolveParent(doc: any, path: string[]): [any, string] {
  let cur = doc;
  for (const seg of path.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isObj(cur)) cur = cur[seg];
    else cur = undefined;
    if (cur === undefined) throw new PatchError(`doc is missing path: "/${path.join('/')}": missing value`);
  }
  return [cur, path[path.length - 1]];
}

function getPointer(doc: any, path: string[]): any {
  let cur = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isObj(cur)) cur = cur[seg];
    else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

function addAt(doc: any, path: string[], value: any): any {
  if (!path.length) return value;
  const [parent, last] = resolveParent(doc, path);
  if (Array.isArray(parent)) {
    const idx = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(idx) || idx < 0 || idx > parent.length)
      throw new PatchError(`add operation index out of bounds: ${last}`);
    parent.splice(idx, 0, value);
  } else if (isObj(parent)) parent[last] = value;
  else throw new PatchError('add operation on a non-container');
  return doc;
}

function removeAt(doc: any, path: string[]): any {
  const [parent, last] = resolveParent(doc, path);
  if (Array.isArray(parent)) {
    const idx = Number(last);
    if (!Number.isInteger(idx) || idx < 0 || idx >= parent.length)
      throw new PatchError(`remove operation index out of bounds: ${last}`);
    return parent.splice(idx, 1)[0];
  }
  if (isObj(parent) && last in parent) {
    const v = parent[last];
    delete parent[last];
    return v;
  }
  throw new PatchError(`remove operation does not apply: doc is missing path: "/${path.join('/')}"`);
}

export function applyJsonPatch(target: Obj, ops: unknown): Obj {
  if (!Array.isArray(ops)) throw new PatchError('json patch must be an array of operations', 400);
  let doc: any = clone(target);
  for (const op of ops) {
    if (!isObj(op) || typeof op.op !== 'string' || typeof op.path !== 'string')
      throw new PatchError('invalid json patch operation', 400);
    const path = unescapePointer(op.path);
    switch (op.op) {
      case 'add':
        doc = addAt(doc, path, clone(op.value));
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'replace': {
        if (!path.length) {
          doc = clone(op.value);
          break;
        }
        if (getPointer(doc, path) === undefined)
          throw new PatchError(
            `replace operation does not apply: doc is missing key: /${path.join('/')}: missing value`,
          );
        const [parent, last] = resolveParent(doc, path);
        if (Array.isArray(parent)) parent[Number(last)] = clone(op.value);
        else parent[last] = clone(op.value);
        break;
      }
      case 'move': {
        const from = unescapePointer(String(op.from));
        const v = removeAt(doc, from);
        doc = addAt(doc, path, v);
        break;
      }
      case 'copy': {
        const v = getPointer(doc, unescapePointer(String(op.from)));
        if (v === undefined) throw new PatchError('copy operation does not apply: missing from path');
        doc = addAt(doc, path, clone(v));
        break;
      }
      case 'test': {
        const v = getPointer(doc, path);
        if (!deepEqual(v === undefined ? null : v, op.value ?? null))
          throw new PatchError('testing value failed');
        break;
      }
      default:
        throw new PatchError(`unexpected kind: ${op.op}`, 400);
    }
  }
  if (!isObj(doc)) throw new PatchError('json patch produced a non-object', 400);
  return doc;
}

// ---------------------------------------------------------------- JSON merge patch (RFC 7386)

export function applyMergePatch(target: unknown, patch: unknown): any {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

// ---------------------------------------------------------------- strategic merge patch

export function applyStrategicMergePatch(target: unknown, patch: unknown, builtin: boolean): any {
  if (!isObj(patch)) return clone(patch);
  const directive = patch.$patch;
  if (directive === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (directive === 'delete') return undefined;
  let out: Obj = isObj(target) ? clone(target) : {};
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set<string>(patch.$retainKeys as string[]);
    out = Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
  const orders: Record<string, unknown[]> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders[k.slice('$setElementOrder/'.length)] = v;
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[f]) && Array.isArray(v))
        out[f] = out[f].filter((x: unknown) => !v.some((y) => deepEqual(x, y)));
      continue;
    }
    if (k.startsWith('$')) continue;
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) {
      out[k] = mergeList(k, out[k], v, builtin);
      continue;
    }
    if (isObj(v)) {
      const merged = applyStrategicMergePatch(out[k], v, builtin);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
      continue;
    }
    out[k] = v;
  }
  for (const [f, order] of Object.entries(orders)) {
    if (!Array.isArray(out[f])) continue;
    const key = listKeyFor(f, [...order, ...out[f]], builtin);
    const list: unknown[] = out[f];
    const pos = (item: unknown): number => {
      const i = order.findIndex((o) => (key ? sameKey(o, item, key) : deepEqual(o, item)));
      return i < 0 ? order.length : i;
    };
    out[f] = list
      .map((item, i) => ({ item, i }))
      .sort((a, b) => pos(a.item) - pos(b.item) || a.i - b.i)
      .map((x) => x.item);
  }
  return out;
}

function mergeList(field: string, current: unknown, patch: unknown[], builtin: boolean): unknown[] {
  const cur: unknown[] = Array.isArray(current) ? clone(current) : [];
  if (patch.some((p) => isObj(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObj(p) && p.$patch === 'replace')).map(stripDirectives);
  }
  const key = listKeyFor(field, [...patch, ...cur], builtin);
  if (!key || !patch.every(isObj)) return patch.map(stripDirectives);
  const out = cur;
  for (const item of patch as Obj[]) {
    const idx = out.findIndex((c) => sameKey(c, item, key));
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = applyStrategicMergePatch(out[idx], item, builtin);
    else out.push(stripDirectives(item));
  }
  return out;
}

function stripDirectives(v: unknown): any {
  if (Array.isArray(v)) return v.filter((x) => !(isObj(x) && x.$patch === 'delete')).map(stripDirectives);
  if (isObj(v)) {
    const o: Obj = {};
    for (const [k, x] of Object.entries(v)) if (!k.startsWith('$') && x !== null) o[k] = stripDirectives(x);
    return o;
  }
  return v;
}
