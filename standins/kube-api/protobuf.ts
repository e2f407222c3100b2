/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON */
// A tiny, hand-written protobuf decoder for the few Kubernetes kinds that clients send as
// `application/vnd.kubernetes.protobuf` (helm's release Secrets, `kubectl create` typed
// commands, DeleteOptions). Field numbers follow k8s.io/api generated.proto.

type Field = { no: number; wire: number; value: number | Buffer };

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('protobuf: truncated varint');
    const b = buf[pos++];
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) break;
    mul *= 128;
  }
  return [result, pos];
}

export function readFields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    let tag: number;
    [tag, pos] = readVarint(buf, pos);
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      let v: number;
      [v, pos] = readVarint(buf, pos);
      out.push({ no, wire, value: v });
    } else if (wire === 2) {
      let len: number;
      [len, pos] = readVarint(buf, pos);
      if (pos + len > buf.length) throw new Error('protobuf: truncated bytes');
      out.push({ no, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) {
      out.push({ no, wire, value: buf.readDoubleLE(pos) });
      pos += 8;
    } else if (wire === 5) {
      out.push({ no, wire, value: buf.readUInt32LE(pos) });
      pos += 4;
    } else {
      throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
  }
  return out;
}

const str = (f: Field): string => (Buffer.isBuffer(f.value) ? f.value.toString('utf8') : String(f.value));
const bytes = (f: Field): Buffer => (Buffer.isBuffer(f.value) ? f.value : Buffer.alloc(0));
const num = (f: Field): number => (typeof f.value === 'number' ? f.value : 0);

/** map<string, X> entries are messages {1: key, 2: value}. */
function mapEntry(f: Field): [string, Field | undefined] {
  let key = '';
  let val: Field | undefined;
  for (const e of readFields(bytes(f))) {
    if (e.no === 1) key = str(e);
    else if (e.no === 2) val = e;
  }
  return [key, val];
}

function decodeTime(buf: Buffer): string {
  let seconds = 0;
  for (const f of readFields(buf)) if (f.no === 1) seconds = num(f);
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function decodeOwnerReference(buf: Buffer): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of readFields(buf)) {
    if (f.no === 1) o.kind = str(f);
    else if (f.no === 3) o.name = str(f);
    else if (f.no === 4) o.uid = str(f);
    else if (f.no === 5) o.apiVersion = str(f);
    else if (f.no === 6) o.controller = num(f) !== 0;
    else if (f.no === 7) o.blockOwnerDeletion = num(f) !== 0;
  }
  return o;
}

export function decodeObjectMeta(buf: Buffer): Record<string, unknown> {
  const m: Record<string, any> = {};
  for (const f of readFields(buf)) {
    switch (f.no) {
      case 1:
        m.name = str(f);
        break;
      case 2:
        m.generateName = str(f);
        break;
      case 3:
        m.namespace = str(f);
        break;
      case 5:
        m.uid = str(f);
        break;
      case 6:
        m.resourceVersion = str(f);
        break;
      case 7:
        m.generation = num(f);
        break;
      case 8:
        m.creationTimestamp = decodeTime(bytes(f));
        break;
      case 11: {
        const [k, v] = mapEntry(f);
        (m.labels ??= {})[k] = v ? str(v) : '';
        break;
      }
      case 12: {
        const [k, v] = mapEntry(f);
        (m.annotations ??= {})[k] = v ? str(v) : '';
        break;
      }
      case 13:
        (m.ownerReferences ??= []).push(decodeOwnerReference(bytes(f)));
        break;
      case 14:
        (m.finalizers ??= []).push(str(f));
        break;
      default:
        break; // managedFields and the rest are not needed by the stand-in
    }
  }
  return m;
}

function decodeSecret(buf: Buffer): Record<string, unknown> {
  const o: Record<string, any> = { apiVersion: 'v1', kind: 'Secret', metadata: {} };
  for (const f of readFields(buf)) {
    if (f.no === 1) o.metadata = decodeObjectMeta(bytes(f));
    else if (f.no === 2) {
      const [k, v] = mapEntry(f);
      (o.data ??= {})[k] = v ? bytes(v).toString('base64') : '';
    } else if (f.no === 3) o.type = str(f);
    else if (f.no === 4) {
      const [k, v] = mapEntry(f);
      (o.stringData ??= {})[k] = v ? str(v) : '';
    } else if (f.no === 5) o.immutable = num(f) !== 0;
  }
  return o;
}

function decodeConfigMap(buf: Buffer): Record<string, unknown> {
  const o: Record<string, any> = { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} };
  for (const f of readFields(buf)) {
    if (f.no === 1) o.metadata = decodeObjectMeta(bytes(f));
    else if (f.no === 2) {
      const [k, v] = mapEntry(f);
      (o.data ??= {})[k] = v ? str(v) : '';
    } else if (f.no === 3) {
      const [k, v] = mapEntry(f);
      (o.binaryData ??= {})[k] = v ? bytes(v).toString('base64') : '';
    } else if (f.no === 4) o.immutable = num(f) !== 0;
  }
  return o;
}

function decodeNamespace(buf: Buffer): Record<string, unknown> {
  const o: Record<string, any> = { apiVersion: 'v1', kind: 'Namespace', metadata: {} };
  for (const f of readFields(buf)) {
    if (f.no === 1) o.metadata = decodeObjectMeta(bytes(f));
    else if (f.no === 2) {
      for (const s of readFields(bytes(f))) if (s.no === 1) ((o.spec ??= {}).finalizers ??= []).push(str(s));
    }
  }
  return o;
}

function decodeDeleteOptions(buf: Buffer): Record<string, unknown> {
  const o: Record<string, any> = { apiVersion: 'v1', kind: 'DeleteOptions' };
  for (const f of readFields(buf)) {
    if (f.no === 1) o.gracePeriodSeconds = num(f);
    else if (f.no === 2) {
      const p: Record<string, string> = {};
      for (const s of readFields(bytes(f))) {
        if (s.no === 1) p.uid = str(s);
        else if (s.no === 2) p.resourceVersion = str(s);
      }
      o.preconditions = p;
    } else if (f.no === 3) o.orphanDependents = num(f) !== 0;
    else if (f.no === 4) o.propagationPolicy = str(f);
    else if (f.no === 5) (o.dryRun ??= []).push(str(f));
  }
  return o;
}

/** Fields by number -> name (strings only), for small messages such as ResourceAttributes. */
function decodeStrings(buf: Buffer, names: Record<number, string>): Record<string, string> {
  const o: Record<string, string> = {};
  for (const f of readFields(buf)) if (names[f.no]) o[names[f.no]] = str(f);
  return o;
}

/** authorization.k8s.io/v1 SelfSubjectAccessReview (kubectl auth can-i sends it in protobuf). */
function decodeSelfSubjectAccessReview(buf: Buffer): Record<string, unknown> {
  const o: Record<string, any> = { metadata: {}, spec: {} };
  for (const f of readFields(buf)) {
    if (f.no === 1) o.metadata = decodeObjectMeta(bytes(f));
    else if (f.no === 2)
      for (const s of readFields(bytes(f))) {
        if (s.no === 1)
          o.spec.resourceAttributes = decodeStrings(bytes(s), {
            1: 'namespace',
            2: 'verb',
            3: 'group',
            4: 'version',
            5: 'resource',
            6: 'subresource',
            7: 'name',
          });
        else if (s.no === 2) o.spec.nonResourceAttributes = decodeStrings(bytes(s), { 1: 'path', 2: 'verb' });
      }
  }
  return o;
}

function decodeSelfSubjectRulesReview(buf: Buffer): Record<string, unknown> {
  const o: Record<string, any> = { metadata: {}, spec: {} };
  for (const f of readFields(buf)) {
    if (f.no === 1) o.metadata = decodeObjectMeta(bytes(f));
    else if (f.no === 2) o.spec = decodeStrings(bytes(f), { 1: 'namespace' });
  }
  return o;
}

const decoders: Record<string, (b: Buffer) => Record<string, unknown>> = {
  SelfSubjectAccessReview: decodeSelfSubjectAccessReview,
  SelfSubjectRulesReview: decodeSelfSubjectRulesReview,
  Secret: decodeSecret,
  ConfigMap: decodeConfigMap,
  Namespace: decodeNamespace,
  DeleteOptions: decodeDeleteOptions,
};

export class ProtobufError extends Error {}

/** Decodes a `k8s\0` + runtime.Unknown envelope into a JSON-shaped object. */
export function decodeKubeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC))
    throw new ProtobufError('protobuf body without the k8s magic prefix');
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  for (const f of readFields(body.subarray(4))) {
    if (f.no === 1) {
      for (const t of readFields(bytes(f))) {
        if (t.no === 1) apiVersion = str(t);
        else if (t.no === 2) kind = str(t);
      }
    } else if (f.no === 2) raw = bytes(f);
  }
  const dec = decoders[kind];
  if (!dec)
    throw new ProtobufError(
      `protobuf decoding of kind ${JSON.stringify(kind)} is not supported by the stand-in`,
    );
  const obj = dec(raw);
  if (apiVersion) obj.apiVersion = apiVersion;
  obj.kind = kind;
  return obj;
}
