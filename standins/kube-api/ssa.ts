/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON */
// Field ownership (metadata.managedFields, FieldsV1) and server-side apply.
//
// A field set is a Set of paths; each path is the FieldsV1 keys from the root joined with SEP
// ("f:spec", "k:{\"name\":\"app\"}", "."). Maps are granular, lists are atomic unless they are
// known keyed lists of built-in kinds (see listKeyFor): custom resources' lists (Istio's
// spec.http) are single atomic fields, as with real Istio CRDs.
import { listKeyFor, sameKey } from './patch.js';
import { clone, deepEqual, dropNulls, isObj, nowTimestamp, type Obj } from './util.js';

const SEP = '\u0000';

const IGNORED_META = [
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Obj;
  subresource?: string;
}

export interface Conflict {
  manager: string;
  apiVersion: string;
  path: string; // pretty, e.g. .spec.http
}

/** The part of an object whose fields are tracked. */
function trackable(obj: Obj): Obj {
  const o = clone(obj) ?? {};
  delete o.apiVersion;
  delete o.kind;
  delete o.status;
  if (isObj(o.metadata)) {
    for (const k of IGNORED_META) delete o.metadata[k];
    if (!Object.keys(o.metadata).length) delete o.metadata;
  }
  return o;
}

function collect(v: Obj, builtin: boolean, path: string[], out: Set<string>): void {
  for (const [k, child] of Object.entries(v)) {
    if (child === undefined) continue;
    const p = [...path, `f:${k}`];
    if (Array.isArray(child)) {
      const key = listKeyFor(k, child, builtin);
      if (key && child.length && child.every(isObj)) {
        for (const item of child as Obj[]) {
          const ip = [...p, `k:${JSON.stringify(Object.fromEntries(key.map((kk) => [kk, item[kk]])))}`];
          out.add([...ip, '.'].join(SEP));
          collect(item, builtin, ip, out);
        }
      } else out.add(p.join(SEP));
    } else if (isObj(child) && Object.keys(child).length) collect(child, builtin, p, out);
    else out.add(p.join(SEP));
  }
}

export function fieldSetOf(obj: Obj, builtin: boolean): Set<string> {
  const out = new Set<string>();
  collect(trackable(obj), builtin, [], out);
  return out;
}

export function flatten(tree: Obj, prefix: string[] = [], out = new Set<string>()): Set<string> {
  for (const [k, child] of Object.entries(tree ?? {})) {
    const p = [...prefix, k];
    if (k === '.' || !isObj(child) || !Object.keys(child).length) out.add(p.join(SEP));
    else flatten(child, p, out);
  }
  return out;
}

export function unflatten(set: Set<string>): Obj {
  const root: Obj = {};
  for (const path of [...set].sort()) {
    let cur = root;
    for (const seg of path.split(SEP)) cur = cur[seg] ??= {};
  }
  return root;
}

function getAt(obj: unknown, path: string): { found: boolean; value?: unknown } {
  let cur: any = obj;
  for (const seg of path.split(SEP)) {
    if (seg === '.') return { found: true, value: undefined };
    if (seg.startsWith('f:')) {
      const name = seg.slice(2);
      if (!isObj(cur) || !(name in cur)) return { found: false };
      cur = cur[name];
    } else if (seg.startsWith('k:')) {
      const key = JSON.parse(seg.slice(2)) as Obj;
      if (!Array.isArray(cur)) return { found: false };
      const item = cur.find((i) => sameKey(i, key, Object.keys(key)));
      if (!item) return { found: false };
      cur = item;
    } else return { found: false };
  }
  return { found: true, value: cur };
}

function removeAt(obj: Obj, path: string): void {
  const segs = path.split(SEP);
  const last = segs[segs.length - 1];
  const parentSegs = last === '.' ? segs.slice(0, -2) : segs.slice(0, -1);
  const parent = parentSegs.length ? getAt(obj, parentSegs.join(SEP)).value : obj;
  if (last === '.') {
    const key = JSON.parse(segs[segs.length - 2].slice(2)) as Obj;
    if (Array.isArray(parent)) {
      const idx = parent.findIndex((i) => sameKey(i, key, Object.keys(key)));
      if (idx >= 0) parent.splice(idx, 1);
    }
  } else if (last.startsWith('f:') && isObj(parent)) delete parent[last.slice(2)];
}

export function prettyPath(path: string): string {
  let s = '';
  for (const seg of path.split(SEP)) {
    if (seg.startsWith('f:')) s += `.${seg.slice(2)}`;
    else if (seg.startsWith('k:')) {
      const key = JSON.parse(seg.slice(2)) as Obj;
      s += `[${Object.entries(key)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}]`;
    }
  }
  return s;
}

function entriesOf(obj: Obj | undefined): ManagedFieldsEntry[] {
  const mf = obj?.metadata?.managedFields;
  return Array.isArray(mf) ? clone(mf) : [];
}

/** Status is not tracked on the main resource; scale shares spec.replicas with it. */
const isSubresourceEntry = (e: ManagedFieldsEntry): boolean => e.subresource === 'status';

/** Ownership after a non-apply write (POST, PUT, PATCH) by `manager`. */
export function managedFieldsAfterUpdate(
  oldObj: Obj | undefined,
  newObj: Obj,
  opts: { manager: string; apiVersion: string; builtin: boolean; subresource?: string },
): ManagedFieldsEntry[] {
  const oldF = oldObj ? fieldSetOf(oldObj, opts.builtin) : new Set<string>();
  const newF = fieldSetOf(newObj, opts.builtin);
  const changed = new Set<string>();
  for (const p of newF) {
    if (!oldF.has(p)) changed.add(p);
    else if (!p.endsWith('.') && !deepEqual(getAt(oldObj, p).value, getAt(newObj, p).value)) changed.add(p);
  }
  const removed = [...oldF].filter((p) => !newF.has(p));
  const entries = entriesOf(oldObj);
  const out: ManagedFieldsEntry[] = [];
  let mine: ManagedFieldsEntry | undefined;
  for (const e of entries) {
    if (isSubresourceEntry(e) !== (opts.subresource === 'status')) {
      out.push(e);
      continue;
    }
    const set = flatten(e.fieldsV1);
    for (const p of removed) set.delete(p);
    const isMine =
      e.manager === opts.manager &&
      e.operation === 'Update' &&
      (e.subresource ?? '') === (opts.subresource ?? '');
    if (isMine) {
      for (const p of changed) set.add(p);
      mine = {
        ...e,
        apiVersion: opts.apiVersion,
        time: changed.size ? nowTimestamp() : e.time,
        fieldsV1: unflatten(set),
      };
      if (set.size) out.push(mine);
      continue;
    }
    for (const p of changed) set.delete(p);
    if (set.size) out.push({ ...e, fieldsV1: unflatten(set) });
  }
  if (!mine && changed.size) {
    out.push({
      manager: opts.manager,
      operation: 'Update',
      apiVersion: opts.apiVersion,
      time: nowTimestamp(),
      fieldsType: 'FieldsV1',
      fieldsV1: unflatten(changed),
      ...(opts.subresource ? { subresource: opts.subresource } : {}),
    });
  }
  return out;
}

function mergeApplied(live: unknown, applied: unknown, builtin: boolean, field?: string): unknown {
  if (Array.isArray(applied)) {
    const key = field
      ? listKeyFor(field, [...applied, ...(Array.isArray(live) ? live : [])], builtin)
      : undefined;
    if (!key || !Array.isArray(live) || !applied.every(isObj)) return clone(applied);
    const out = clone(live) as unknown[];
    for (const item of applied) {
      const idx = out.findIndex((x) => sameKey(x, item, key));
      if (idx >= 0) out[idx] = mergeApplied(out[idx], item, builtin);
      else out.push(clone(item));
    }
    return out;
  }
  if (isObj(applied)) {
    const out: Obj = isObj(live) ? clone(live) : {};
    for (const [k, v] of Object.entries(applied)) out[k] = mergeApplied(out[k], v, builtin, k);
    return out;
  }
  return applied;
}

export type ApplyResult = { ok: true; obj: Obj } | { ok: false; conflicts: Conflict[] };

/**
 * Server-side apply of `appliedIn` by `manager` onto `live` (undefined = create). Returns the new
 * object (with managedFields) or the conflicts. With force, conflicting fields move to the
 * applier.
 */
export function serverSideApply(
  live: Obj | undefined,
  appliedIn: Obj,
  opts: { manager: string; apiVersion: string; builtin: boolean; force: boolean },
): ApplyResult {
  const applied = dropNulls(appliedIn) as Obj;
  const newSet = fieldSetOf(applied, opts.builtin);
  const entries = entriesOf(live);
  const conflicts: Conflict[] = [];
  const isMe = (e: ManagedFieldsEntry) =>
    e.manager === opts.manager && e.operation === 'Apply' && !isSubresourceEntry(e) && !e.subresource;
  const others = entries.filter((e) => !isMe(e));
  const otherSets = others.map((e) => (isSubresourceEntry(e) ? new Set<string>() : flatten(e.fieldsV1)));
  if (live) {
    others.forEach((e, i) => {
      for (const p of newSet) {
        if (p.endsWith('.') || !otherSets[i].has(p)) continue;
        const a = getAt(live, p);
        const b = getAt(applied, p);
        if (a.found && deepEqual(a.value, b.value)) continue;
        if (!a.found) continue;
        if (opts.force) otherSets[i].delete(p);
        else conflicts.push({ manager: e.manager, apiVersion: e.apiVersion, path: p });
      }
    });
    if (conflicts.length) return { ok: false, conflicts };
  }
  const mineOld = entries.find(isMe);
  const oldSet = mineOld ? flatten(mineOld.fieldsV1) : new Set<string>();
  const othersUnion = new Set<string>();
  for (const s of otherSets) for (const p of s) othersUnion.add(p);
  let obj: Obj = live ? clone(live) : {};
  // fields this manager applied before and no longer applies (and nobody else owns) go away
  const toRemove = [...oldSet]
    .filter((p) => !newSet.has(p) && !othersUnion.has(p))
    .sort((a, b) => b.length - a.length);
  for (const p of toRemove) removeAt(obj, p);
  const metaKeep = isObj(obj.metadata) ? obj.metadata : {};
  obj = mergeApplied(obj, applied, opts.builtin) as Obj;
  obj.metadata = { ...obj.metadata, ...pickMeta(metaKeep) };
  const entry: ManagedFieldsEntry = {
    manager: opts.manager,
    operation: 'Apply',
    apiVersion: opts.apiVersion,
    time: nowTimestamp(),
    fieldsType: 'FieldsV1',
    fieldsV1: unflatten(newSet),
  };
  const out: ManagedFieldsEntry[] = [];
  let placed = false;
  for (const e of entries) {
    if (isMe(e)) {
      out.push(entry);
      placed = true;
      continue;
    }
    const i = others.indexOf(e);
    const set = otherSets[i];
    if (isSubresourceEntry(e)) out.push(e);
    else if (set.size) out.push({ ...e, fieldsV1: unflatten(set) });
  }
  if (!placed) out.push(entry);
  obj.metadata.managedFields = out;
  return { ok: true, obj };
}

function pickMeta(m: Obj): Obj {
  const o: Obj = {};
  for (const k of ['uid', 'resourceVersion', 'generation', 'creationTimestamp'])
    if (m[k] !== undefined) o[k] = m[k];
  return o;
}

export function conflictMessage(conflicts: Conflict[]): string {
  const n = conflicts.length;
  const byManager = new Map<string, Conflict[]>();
  for (const c of conflicts) {
    const k = `${c.manager}\u0000${c.apiVersion}`;
    byManager.set(k, [...(byManager.get(k) ?? []), c]);
  }
  if (n === 1) {
    const c = conflicts[0];
    return `Apply failed with 1 conflict: conflict with "${c.manager}" using ${c.apiVersion}: ${prettyPath(c.path)}`;
  }
  const parts: string[] = [];
  for (const cs of byManager.values()) {
    parts.push(
      `conflicts with "${cs[0].manager}" using ${cs[0].apiVersion}:\n${cs.map((c) => `- ${prettyPath(c.path)}`).join('\n')}`,
    );
  }
  return `Apply failed with ${n} conflicts: ${parts.join('\n')}`;
}
