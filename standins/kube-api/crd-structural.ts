/* eslint-disable @typescript-eslint/no-explicit-any -- schemas and objects are untyped JSON */
// What an apiserver does with a custom resource against its structural schema, without I/O:
// pruning of unknown fields (and of nulls where the schema does not allow them), `default`s,
// Ajv errors turned into the apiserver's field causes, and the CEL `x-kubernetes-validations`
// rules. Loading and compiling the schemas is crd-schema.ts.
import type { ErrorObject } from 'ajv';
import type { FieldCause } from './validation.js';
import { clone, isObj, type Obj } from './util.js';

export type Schema = Obj;
/** A compiled CEL rule: true when the rule holds, false when it fails, an Error when it cannot run. */
export type CelProgram = (self: unknown) => unknown;

const PRESERVE = 'x-kubernetes-preserve-unknown-fields';
const INT_OR_STRING = 'x-kubernetes-int-or-string';
// ObjectMeta's fields: anything else under metadata is unknown to a real apiserver too.
const META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);
const ROOT_FIELDS = new Set(['apiVersion', 'kind', 'metadata']);

const fieldOf = (parent: string, key: string): string => (parent ? `${parent}.${key}` : key);

function childSchema(s: Schema | undefined, key: string): Schema | undefined {
  if (!s) return undefined;
  if (isObj(s.properties) && isObj(s.properties[key])) return s.properties[key];
  if (isObj(s.additionalProperties)) return s.additionalProperties;
  return undefined;
}

/**
 * Drops the fields the schema does not declare (in place) and returns their paths
 * (`spec.http[0].foo`), as the apiserver's decoder does; nulls of non-nullable fields go silently.
 */
export function prune(obj: Obj, root: Schema): string[] {
  const unknown: string[] = [];
  if (isObj(obj.metadata))
    for (const k of Object.keys(obj.metadata))
      if (!META_FIELDS.has(k)) {
        unknown.push(`metadata.${k}`);
        delete obj.metadata[k];
      }
  for (const k of Object.keys(obj)) {
    if (ROOT_FIELDS.has(k)) continue;
    pruneKey(obj, k, root, '', unknown);
  }
  return unknown;
}

function pruneKey(o: Obj, k: string, s: Schema, path: string, unknown: string[]): void {
  const cs = childSchema(s, k);
  const f = fieldOf(path, k);
  if (o[k] === null) {
    if (!cs?.nullable && !(s[PRESERVE] === true && !cs)) delete o[k];
    return;
  }
  if (cs) return pruneValue(o[k], cs, f, unknown);
  if (s[PRESERVE] === true) return;
  unknown.push(f);
  delete o[k];
}

function pruneValue(v: unknown, s: Schema, path: string, unknown: string[]): void {
  if (s[INT_OR_STRING] === true) return;
  if (Array.isArray(v)) {
    if (isObj(s.items)) v.forEach((x, i) => pruneValue(x, s.items, `${path}[${i}]`, unknown));
    return;
  }
  if (!isObj(v)) return;
  if (s[PRESERVE] === true && !s.properties && !isObj(s.additionalProperties)) return;
  for (const k of Object.keys(v)) pruneKey(v, k, s, path, unknown);
}

/** Fills in the schema's `default`s where a field is absent (in place), top down. */
export function applySchemaDefaults(v: unknown, s: Schema | undefined): void {
  if (!s) return;
  if (Array.isArray(v)) {
    if (isObj(s.items)) for (const x of v) applySchemaDefaults(x, s.items);
    return;
  }
  if (!isObj(v)) return;
  if (isObj(s.properties))
    for (const [k, ps] of Object.entries(s.properties as Record<string, Schema>)) {
      if (v[k] === undefined && ps.default !== undefined) v[k] = clone(ps.default);
      if (v[k] !== undefined && !ROOT_FIELDS.has(k)) applySchemaDefaults(v[k], ps);
    }
  if (isObj(s.additionalProperties))
    for (const x of Object.values(v)) applySchemaDefaults(x, s.additionalProperties);
}

/** The apiserver's field path for an Ajv instancePath (`/spec/http/0` → `spec.http[0]`). */
export function fieldPath(data: unknown, instancePath: string): string {
  let out = '';
  let cur: any = data;
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = Array.isArray(cur) ? `${out}[${seg}]` : fieldOf(out, seg);
    cur = cur?.[seg];
  }
  return out;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** How the apiserver prints a bad value: scalars as JSON, objects and lists by their type. */
const shown = (v: unknown): string =>
  isObj(v) || Array.isArray(v) ? JSON.stringify(jsonType(v)) : JSON.stringify(v);

function valueAt(data: unknown, instancePath: string): unknown {
  let cur: any = data;
  for (const raw of instancePath.split('/').slice(1))
    cur = cur?.[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  return cur;
}

/** Ajv errors → the apiserver's causes (the messages of k8s.io/kube-openapi's validator). */
export function schemaCauses(errors: ErrorObject[], data: unknown): FieldCause[] {
  // A failed oneOf/anyOf reports once; its branches' own errors are noise to a user.
  const composites = errors
    .filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf')
    .map((e) => `${e.schemaPath}/`);
  const causes: FieldCause[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (composites.some((c) => e.schemaPath.startsWith(c))) continue;
    const cause = causeOf(e, data);
    if (!cause) continue;
    const key = `${cause.field}\n${cause.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    causes.push(cause);
  }
  return causes;
}

function causeOf(e: ErrorObject, data: unknown): FieldCause | undefined {
  const f = fieldPath(data, e.instancePath);
  const v = valueAt(data, e.instancePath);
  const p = e.params as Record<string, any>;
  const invalid = (detail: string): FieldCause => ({
    field: f,
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${shown(v)}: ${f} in body ${detail}`,
  });
  switch (e.keyword) {
    case 'type': {
      const t = JSON.stringify(jsonType(v));
      return {
        field: f,
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: ${t}: ${f} in body must be of type ${String(p.type).replace(/,/g, ' or ')}: ${t}`,
      };
    }
    case 'required':
      return {
        field: fieldOf(f, p.missingProperty),
        reason: 'FieldValueRequired',
        message: 'Required value',
      };
    case 'enum':
      return {
        field: f,
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${JSON.stringify(v)}: supported values: ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`,
      };
    case 'maximum':
      return invalid(`should be less than or equal to ${p.limit}`);
    case 'exclusiveMaximum':
      return invalid(`should be less than ${p.limit}`);
    case 'minimum':
      return invalid(`should be greater than or equal to ${p.limit}`);
    case 'exclusiveMinimum':
      return invalid(`should be greater than ${p.limit}`);
    case 'maxItems':
      return {
        field: f,
        reason: 'FieldValueTooMany',
        message: `Too many: ${(v as unknown[]).length}: must have at most ${p.limit} items`,
      };
    case 'minItems':
      return invalid(`should have at least ${p.limit} items`);
    case 'maxLength':
      return {
        field: f,
        reason: 'FieldValueTooLong',
        message: `Too long: may not be more than ${p.limit} bytes`,
      };
    case 'minLength':
      return invalid(`should be at least ${p.limit} chars long`);
    case 'pattern':
      return invalid(`should match '${p.pattern}'`);
    case 'format':
      return invalid(`must be of type ${p.format}: ${JSON.stringify(v)}`);
    case 'oneOf':
      return invalid('must validate one and only one schema (oneOf)');
    case 'anyOf':
      return invalid('must validate at least one schema (anyOf)');
    case 'not':
      return invalid('must not validate the schema (not)');
    case 'maxProperties':
      return invalid(`should have at most ${p.limit} properties`);
    case 'minProperties':
      return invalid(`should have at least ${p.limit} properties`);
    case 'uniqueItems':
      return {
        field: `${f}[${p.j}]`,
        reason: 'FieldValueDuplicate',
        message: `Duplicate value: ${shown((v as unknown[])[p.j])}`,
      };
    default:
      return invalid(e.message ?? 'is invalid');
  }
}

// CEL sees object keys that are CEL keywords or not identifiers escaped, as Kubernetes does.
const CEL_RESERVED = new Set(
  'true false null in as break const continue else for function if import let loop package namespace return var void while'.split(
    ' ',
  ),
);
export function celEscape(k: string): string {
  if (CEL_RESERVED.has(k)) return `__${k}__`;
  return k
    .replace(/__/g, '__underscores__')
    .replace(/\./g, '__dot__')
    .replace(/-/g, '__dash__')
    .replace(/\//g, '__slash__');
}

/** A JSON value as CEL sees it: maps for objects, int (bigint) where the schema says integer. */
export function toCel(v: unknown, s: Schema | undefined): unknown {
  if (Array.isArray(v)) return v.map((x) => toCel(x, isObj(s?.items) ? s.items : undefined));
  if (isObj(v))
    return new Map(Object.entries(v).map(([k, x]) => [celEscape(k), toCel(x, childSchema(s, k))]));
  if (typeof v === 'number' && Number.isInteger(v) && s?.type !== 'number') return BigInt(v);
  return v;
}

const RULE_REASONS: Record<string, (type: string, msg: string) => string> = {
  FieldValueInvalid: (type, msg) => `Invalid value: ${JSON.stringify(type)}: ${msg}`,
  FieldValueForbidden: (_t, msg) => `Forbidden: ${msg}`,
  FieldValueRequired: (_t, msg) => `Required value: ${msg}`,
  FieldValueDuplicate: (type, msg) => `Duplicate value: ${JSON.stringify(type)}: ${msg}`,
};

/**
 * Evaluates every `x-kubernetes-validations` rule on the (pruned, defaulted) object. Transition
 * rules (`oldSelf`) are not evaluated. `compile` returns undefined for a rule it cannot compile.
 */
export function celCauses(
  obj: Obj,
  root: Schema,
  compile: (expr: string) => CelProgram | undefined,
): FieldCause[] {
  const causes: FieldCause[] = [];
  const top: Obj = { ...obj };
  if (isObj(obj.metadata))
    top.metadata = { name: obj.metadata.name, generateName: obj.metadata.generateName };
  walkRules(top, root, '', compile, causes);
  return causes;
}

function walkRules(
  v: unknown,
  s: Schema | undefined,
  path: string,
  compile: (expr: string) => CelProgram | undefined,
  causes: FieldCause[],
): void {
  if (!s || v === undefined || v === null) return;
  const rules: Obj[] = Array.isArray(s['x-kubernetes-validations']) ? s['x-kubernetes-validations'] : [];
  for (const rule of rules) {
    if (typeof rule.rule !== 'string' || /\boldSelf\b/.test(rule.rule)) continue;
    const program = compile(rule.rule);
    if (!program) continue;
    const self = toCel(v, s);
    const result = program(self);
    if (result === true) continue;
    let msg: string = rule.message ?? `failed rule: ${rule.rule}`;
    if (result instanceof Error) msg = `${result.message} evaluating rule: ${rule.rule}`;
    else if (typeof rule.messageExpression === 'string') {
      const m = compile(rule.messageExpression)?.(self);
      if (typeof m === 'string' && m) msg = m;
    }
    const extra = typeof rule.fieldPath === 'string' ? rule.fieldPath.replace(/^\./, '') : '';
    const type = s.type ?? (s[INT_OR_STRING] ? jsonType(v) : 'object');
    const render = RULE_REASONS[rule.reason] ?? RULE_REASONS.FieldValueInvalid;
    causes.push({
      field: extra ? fieldOf(path, extra) : path,
      reason: RULE_REASONS[rule.reason] ? rule.reason : 'FieldValueInvalid',
      message: render(type, msg),
    });
  }
  if (Array.isArray(v)) {
    if (isObj(s.items)) v.forEach((x, i) => walkRules(x, s.items, `${path}[${i}]`, compile, causes));
    return;
  }
  if (!isObj(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (!path && k === 'metadata') continue;
    walkRules(x, childSchema(s, k), fieldOf(path, k), compile, causes);
  }
}
