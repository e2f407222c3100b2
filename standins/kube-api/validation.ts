// Validation the stand-in performs on writes: object metadata (like the apiserver), Istio's
// validating webhook for VirtualServices. CRD schemas: crd-structural.ts.
import type { ResourceDef } from './resources.js';
import { isObj, type Obj } from './util.js';

export interface FieldCause {
  field: string;
  message: string;
  reason?: string;
}

export type ValidationFailure = { code: 400; reason: 'BadRequest'; message: string };

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function typeName(v: unknown): string {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  if (Array.isArray(v)) return 'array';
  if (isObj(v)) return 'object';
  return typeof v;
}

/** JSON decoding errors a typed apiserver would report (label/annotation values must be strings). */
export function decodeCheck(def: ResourceDef, version: string, obj: Obj): ValidationFailure | undefined {
  const meta = obj.metadata;
  if (meta !== undefined && !isObj(meta))
    return bad(
      def,
      version,
      `json: cannot unmarshal ${typeName(meta)} into Go struct field ${def.kind}.metadata of type v1.ObjectMeta`,
    );
  for (const field of ['labels', 'annotations']) {
    const m = meta?.[field];
    if (m === undefined || m === null) continue;
    if (!isObj(m))
      return bad(
        def,
        version,
        `json: cannot unmarshal ${typeName(m)} into Go struct field ObjectMeta.metadata.${field} of type map[string]string`,
      );
    for (const v of Object.values(m)) {
      if (typeof v !== 'string' && v !== null)
        return bad(
          def,
          version,
          `json: cannot unmarshal ${typeName(v)} into Go struct field ObjectMeta.metadata.${field} of type string`,
        );
    }
  }
  if (def.group === '' && (def.resource === 'configmaps' || def.resource === 'secrets')) {
    for (const field of ['data', 'stringData']) {
      const m = obj[field];
      if (isObj(m))
        for (const v of Object.values(m))
          if (typeof v !== 'string' && v !== null)
            return bad(
              def,
              version,
              `json: cannot unmarshal ${typeName(v)} into Go struct field ${def.kind}.${field} of type string`,
            );
    }
  }
  return undefined;
}

function bad(def: ResourceDef, version: string, detail: string): ValidationFailure {
  return {
    code: 400,
    reason: 'BadRequest',
    message: `${def.kind} in version "${version}" cannot be handled as a ${def.kind}: ${detail}`,
  };
}

export function validateMeta(def: ResourceDef, obj: Obj): FieldCause[] {
  const causes: FieldCause[] = [];
  const name = obj.metadata?.name;
  if (!name)
    causes.push({
      field: 'metadata.name',
      reason: 'FieldValueRequired',
      message: 'Required value: name or generateName is required',
    });
  else {
    const re = def.resource === 'namespaces' ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
    if (!re.test(name) || name.length > 253)
      causes.push({
        field: 'metadata.name',
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${name}": a lowercase RFC 1123 ${def.resource === 'namespaces' ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      });
  }
  for (const [k] of Object.entries(obj.metadata?.labels ?? {})) {
    if (!/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(k))
      causes.push({
        field: 'metadata.labels',
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${k}": name part must consist of alphanumeric characters, '-', '_' or '.'`,
      });
  }
  for (const [k, v] of Object.entries(obj.metadata?.labels ?? {})) {
    if (
      typeof v === 'string' &&
      v !== '' &&
      (v.length > 63 || !/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(v))
    )
      causes.push({
        field: `metadata.labels`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (label ${k})`,
      });
  }
  return causes;
}

/** Istio's validation webhook for VirtualService. Returns the denial message, if any. */
export function istioVirtualServiceDenial(obj: Obj, requireWeightSum100: boolean): string | undefined {
  const errors: string[] = [];
  const http: unknown[] = Array.isArray(obj.spec?.http) ? obj.spec.http : [];
  for (const route of http) {
    if (!isObj(route)) continue;
    const dests: unknown[] = Array.isArray(route.route) ? route.route : [];
    let total = 0;
    let anyWeight = false;
    for (const d of dests) {
      if (!isObj(d)) continue;
      const w = d.weight;
      if (w === undefined || w === null) continue;
      anyWeight = true;
      if (typeof w !== 'number' || !Number.isInteger(w))
        errors.push(`weight ${JSON.stringify(w)} is not an integer`);
      else if (w < 0) errors.push(`weight ${w} < 0`);
      else if (w > 100) errors.push(`weight ${w} > 100`);
      else total += w;
    }
    if (errors.length) continue;
    if (dests.length > 1 && anyWeight && total === 0) errors.push('total destination weight = 0');
    else if (requireWeightSum100 && dests.length > 1 && total !== 100)
      errors.push(`total destination weight ${total} != 100`);
  }
  if (!errors.length) return undefined;
  return `admission webhook "validation.istio.io" denied the request: configuration is invalid: ${errors.join(', ')}`;
}
