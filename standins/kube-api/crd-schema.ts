// The real CRD schemas of the routing kinds (vendored in crds/, see crds/README.md): each file is
// read, and each version's schema compiled with Ajv, once per process on first use, so a
// stand-in that never writes these kinds pays nothing and later writes cost one validation.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import YAML from 'yaml';
import type { CelProgram, Schema } from './crd-structural.js';
import { isObj, type Obj } from './util.js';

const FILES: Record<string, string> = {
  'networking.istio.io/VirtualService': 'networking.istio.io_virtualservices.yaml',
  'networking.istio.io/DestinationRule': 'networking.istio.io_destinationrules.yaml',
  'gateway.networking.k8s.io/HTTPRoute': 'gateway.networking.k8s.io_httproutes.yaml',
};

export interface CrdVersionSchema {
  schema: Schema;
  validate: ValidateFunction;
}

/** crds/ beside this file, from the sources (standins/kube-api/) or compiled (.build/standins/kube-api/). */
function crdDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let d = here; d !== path.dirname(d); d = path.dirname(d)) {
    const c = path.join(d, 'standins', 'kube-api', 'crds');
    if (fs.existsSync(c)) return c;
  }
  return path.join(here, 'crds');
}

// RFC 3339, as the apiserver's date-time format; int32/int64/float/double are not checked there.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

let ajv: Ajv | undefined;
function getAjv(): Ajv {
  ajv ??= new Ajv({
    strict: false,
    allErrors: true,
    formats: { int32: true, int64: true, float: true, double: true, 'date-time': DATE_TIME, byte: BASE64 },
  });
  return ajv;
}

const crds = new Map<string, Obj | null>();
const compiled = new Map<string, CrdVersionSchema | null>();

function crdOf(key: string): Obj | null {
  if (!crds.has(key)) {
    const file = FILES[key];
    crds.set(key, file ? (YAML.parse(fs.readFileSync(path.join(crdDir(), file), 'utf8')) as Obj) : null);
  }
  return crds.get(key)!;
}

/** The served version's schema and its validator; undefined for kinds without a vendored CRD. */
export function crdSchema(group: string, kind: string, version: string): CrdVersionSchema | undefined {
  const key = `${group}/${kind}`;
  const vkey = `${key}/${version}`;
  if (!compiled.has(vkey)) {
    const crd = FILES[key] ? crdOf(key) : null;
    const v = (crd?.spec?.versions as Obj[] | undefined)?.find((x) => x.name === version && x.served);
    const schema = v?.schema?.openAPIV3Schema;
    compiled.set(vkey, isObj(schema) ? { schema, validate: getAjv().compile(schema) } : null);
  }
  return compiled.get(vkey) ?? undefined;
}

let env: ReturnType<typeof celEnv> | undefined;
const programs = new Map<string, CelProgram | null>();

/** A CEL rule compiled once per process; undefined when @bufbuild/cel cannot parse it. */
export function celProgram(expr: string): CelProgram | undefined {
  if (!programs.has(expr)) {
    env ??= celEnv();
    let p: CelProgram | null;
    try {
      const run = plan(env, parse(expr));
      p = (self) => {
        const r = run({ self } as never);
        return isCelError(r) ? new Error(String((r as Error).message ?? r)) : r;
      };
    } catch {
      p = null;
    }
    programs.set(expr, p);
  }
  return programs.get(expr) ?? undefined;
}
