// CRD schema validation in the Kubernetes API stand-in: VirtualService, DestinationRule and
// HTTPRoute writes checked against the real upstream schemas (standins/kube-api/crds/), as an
// apiserver does: structure (Ajv), unknown-field pruning and fieldValidation, defaults, CEL rules.
// Over HTTP, then through the REAL kubectl of the pair chosen by HELM_CANARY_TOOLS.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { KubeApiServer } from '../../standins/kube-api/index.js';
import { celProgram, crdSchema } from '../../standins/kube-api/crd-schema.js';
import { celEscape, fieldPath, prune } from '../../standins/kube-api/crd-structural.js';
import { run, toolsPair, type RunResult } from './tools.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

let api: KubeApiServer;
let home: string;
let env: Record<string, string>;

interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

function request(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const data =
      body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(
      `${api.url}${path}`,
      { method, headers: data ? { 'Content-Type': contentType, 'Content-Length': data.length } : {} },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }),
        );
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const VS = '/apis/networking.istio.io/v1/namespaces/default/virtualservices';
const DR = '/apis/networking.istio.io/v1/namespaces/default/destinationrules';
const HR = '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes';

const vs = (name: string, http0: any): any => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name },
  spec: { hosts: ['app.example.com'], gateways: ['gw'], http: [http0] },
});
const split = (stable: any, canary: any): any => ({
  name: 'primary',
  route: [
    { destination: { host: 'stable', port: { number: 80 } }, weight: stable },
    { destination: { host: 'canary', port: { number: 80 } }, weight: canary },
  ],
});
const hr = (name: string, rules: any[]): any => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name },
  spec: { parentRefs: [{ name: 'gw' }], hostnames: ['app.example.com'], rules },
});

/** The one cause of a 422, checked against the apiserver's Status shape. */
function onlyCause(r: Resp, kind: string, name: string): any {
  expect(r.status).toBe(422);
  expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422 });
  expect(r.body.details).toMatchObject({ name, kind });
  expect(r.body.details.causes).toHaveLength(1);
  const c = r.body.details.causes[0];
  expect(r.body.message).toBe(
    `${kind}.${r.body.details.group} "${name}" is invalid: ${c.field}: ${c.message}`,
  );
  return c;
}

beforeAll(async () => {
  api = await KubeApiServer.start({ deploymentReadyDelayMs: 0 });
  home = mkdtempSync(join(tmpdir(), 'kube-api-crd-test-'));
  env = { KUBECONFIG: api.kubeconfigPath, KUBECACHEDIR: join(home, 'kube-cache') };
});

afterAll(async () => {
  await api?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('CRD schema validation over HTTP', () => {
  it('accepts valid VirtualService, DestinationRule and HTTPRoute objects and stores them as sent', async () => {
    const v = vs('ok-vs', {
      ...split(90, 10),
      match: [{ uri: { prefix: '/' }, headers: { 'x-canary': { exact: 'yes' } } }],
      timeout: '5s',
      retries: { attempts: 3, perTryTimeout: '2s' },
    });
    const r1 = await request('POST', VS, v);
    expect(r1.status).toBe(201);
    expect(r1.headers.warning).toBeUndefined();
    expect(api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'ok-vs').spec).toEqual(
      v.spec,
    );

    const d = {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'DestinationRule',
      metadata: { name: 'ok-dr' },
      spec: {
        host: 'app',
        trafficPolicy: {
          loadBalancer: { simple: 'ROUND_ROBIN' },
          connectionPool: { tcp: { maxConnections: 10 } },
        },
        subsets: [
          { name: 'stable', labels: { 'app.kubernetes.io/instance': 'rel-a' } },
          { name: 'canary', labels: { 'app.kubernetes.io/instance': 'rel-b' } },
        ],
      },
    };
    expect((await request('POST', DR.replace('/v1/', '/v1beta1/'), d)).status).toBe(201);

    const route = hr('ok-hr', [
      {
        name: 'main',
        matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: 'b' }] } },
        ],
        timeouts: { request: '10s' },
        backendRefs: [
          { name: 'stable', port: 80, weight: 90 },
          { name: 'canary', port: 80, weight: 10 },
        ],
      },
    ]);
    const r3 = await request('POST', HR, route);
    expect(r3.status).toBe(201);
    expect(r3.body.spec.rules[0].matches).toEqual(route.spec.rules[0].matches);
    expect(r3.body.spec.rules[0].filters).toEqual(route.spec.rules[0].filters);
    // the schema's defaults, as a real apiserver fills them in
    expect(r3.body.spec.rules[0].backendRefs[0]).toEqual({
      group: '',
      kind: 'Service',
      name: 'stable',
      port: 80,
      weight: 90,
    });
    expect(r3.body.spec.parentRefs[0]).toMatchObject({ group: 'gateway.networking.k8s.io', kind: 'Gateway' });
  });

  it('fills in HTTPRoute defaults (a backendRef weight of 1, a PathPrefix / match) and does not bump generation on an equal rewrite', async () => {
    const r = await request('POST', HR, hr('defaults', [{ backendRefs: [{ name: 'stable', port: 80 }] }]));
    expect(r.status).toBe(201);
    expect(r.body.spec.rules[0].backendRefs[0].weight).toBe(1);
    expect(r.body.spec.rules[0].matches).toEqual([{ path: { type: 'PathPrefix', value: '/' } }]);
    const again = await request('PUT', `${HR}/defaults`, {
      ...hr('defaults', [{ backendRefs: [{ name: 'stable', port: 80 }] }]),
      metadata: { name: 'defaults', resourceVersion: r.body.metadata.resourceVersion },
    });
    expect(again.status).toBe(200);
    expect(again.body.metadata.generation).toBe(1);
  });

  it('rejects a wrong type with the apiserver cause', async () => {
    const r = await request('POST', VS, vs('bad-type', split('90', 10)));
    const c = onlyCause(r, 'VirtualService', 'bad-type');
    expect(c).toEqual({
      reason: 'FieldValueTypeInvalid',
      field: 'spec.http[0].route[0].weight',
      message:
        'Invalid value: "string": spec.http[0].route[0].weight in body must be of type integer: "string"',
    });
    expect(api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'bad-type')).toBeUndefined();
  });

  it('rejects an HTTPRoute weight above 1,000,000 (schema) and a VirtualService weight above 100 (Istio webhook)', async () => {
    const r = await request(
      'POST',
      HR,
      hr('big', [{ backendRefs: [{ name: 'stable', port: 80, weight: 1000001 }] }]),
    );
    expect(onlyCause(r, 'HTTPRoute', 'big')).toEqual({
      reason: 'FieldValueInvalid',
      field: 'spec.rules[0].backendRefs[0].weight',
      message:
        'Invalid value: 1000001: spec.rules[0].backendRefs[0].weight in body should be less than or equal to 1000000',
    });
    const w = await request('POST', VS, vs('big', split(150, 10)));
    expect(w.status).toBe(400);
    expect(w.body.message).toBe(
      'admission webhook "validation.istio.io" denied the request: configuration is invalid: weight 150 > 100',
    );
  });

  it('rejects a bad enum value, listing the supported ones', async () => {
    const r = await request(
      'POST',
      HR,
      hr('enum', [
        { matches: [{ path: { type: 'Glob', value: '/' } }], backendRefs: [{ name: 's', port: 80 }] },
      ]),
    );
    expect(onlyCause(r, 'HTTPRoute', 'enum')).toEqual({
      reason: 'FieldValueNotSupported',
      field: 'spec.rules[0].matches[0].path.type',
      message: 'Unsupported value: "Glob": supported values: "Exact", "PathPrefix", "RegularExpression"',
    });
    const d = await request('POST', DR, {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'enum' },
      spec: { host: 'app', trafficPolicy: { loadBalancer: { simple: 'FASTEST' } } },
    });
    expect(onlyCause(d, 'DestinationRule', 'enum')).toMatchObject({
      reason: 'FieldValueNotSupported',
      field: 'spec.trafficPolicy.loadBalancer.simple',
    });
  });

  it('rejects more than 16 HTTPRoute rules', async () => {
    const rules = Array.from({ length: 17 }, (_, i) => ({
      matches: [{ path: { type: 'PathPrefix', value: `/p${i}` } }],
      backendRefs: [{ name: 's', port: 80 }],
    }));
    expect(onlyCause(await request('POST', HR, hr('many', rules)), 'HTTPRoute', 'many')).toEqual({
      reason: 'FieldValueTooMany',
      field: 'spec.rules',
      message: 'Too many: 17: must have at most 16 items',
    });
    expect((await request('POST', HR, hr('many', rules.slice(0, 16)))).status).toBe(201);
  });

  it('rejects a oneOf violation (a StringMatch with both exact and prefix) with one cause, not one per branch', async () => {
    const r = await request(
      'POST',
      VS,
      vs('oneof', { ...split(100, 0), match: [{ uri: { exact: '/a', prefix: '/b' } }] }),
    );
    expect(onlyCause(r, 'VirtualService', 'oneof')).toEqual({
      reason: 'FieldValueInvalid',
      field: 'spec.http[0].match[0].uri',
      message:
        'Invalid value: "object": spec.http[0].match[0].uri in body must validate one and only one schema (oneOf)',
    });
  });

  it('reports every cause at once, required fields included', async () => {
    const r = await request(
      'POST',
      VS,
      vs('several', { route: [{ weight: 'x' }, { destination: { host: 1 } }] }),
    );
    expect(r.status).toBe(422);
    expect(r.body.details.causes).toEqual([
      { reason: 'FieldValueRequired', field: 'spec.http[0].route[0].destination', message: 'Required value' },
      expect.objectContaining({ reason: 'FieldValueTypeInvalid', field: 'spec.http[0].route[0].weight' }),
      expect.objectContaining({
        reason: 'FieldValueTypeInvalid',
        field: 'spec.http[0].route[1].destination.host',
      }),
    ]);
    expect(r.body.message).toMatch(
      /^VirtualService\.networking\.istio\.io "several" is invalid: \[spec\.http\[0\]/,
    );
  });

  it('enforces the CEL rules: a Service backendRef needs a port, a redirect cannot have backends, durations >= 1ms', async () => {
    const noPort = await request('POST', HR, hr('cel-port', [{ backendRefs: [{ name: 's' }] }]));
    expect(onlyCause(noPort, 'HTTPRoute', 'cel-port')).toEqual({
      reason: 'FieldValueInvalid',
      field: 'spec.rules[0].backendRefs[0]',
      message: 'Invalid value: "object": Must have port for Service reference',
    });
    const redirect = await request(
      'POST',
      HR,
      hr('cel-redirect', [
        {
          filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }],
          backendRefs: [{ name: 's', port: 80 }],
        },
      ]),
    );
    expect(onlyCause(redirect, 'HTTPRoute', 'cel-redirect')).toEqual({
      reason: 'FieldValueInvalid',
      field: 'spec.rules[0]',
      message: 'Invalid value: "object": RequestRedirect filter must not be used together with backendRefs',
    });
    const zero = await request('POST', VS, vs('cel-timeout', { ...split(100, 0), timeout: '0s' }));
    expect(onlyCause(zero, 'VirtualService', 'cel-timeout')).toEqual({
      reason: 'FieldValueInvalid',
      field: 'spec.http[0].timeout',
      message: 'Invalid value: "string": must be a valid duration greater than 1ms',
    });
    // a backendRef to another kind needs no port (the rule's condition is read, not just its message)
    const other = await request(
      'POST',
      HR,
      hr('cel-kind', [{ backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'b' }] }]),
    );
    expect(other.status).toBe(201);
  });

  it('validates against the schema of the version in the URL (v1alpha3)', async () => {
    const r = await request('POST', VS.replace('/v1/', '/v1alpha3/'), {
      ...vs('alpha', split(true, 0)),
      apiVersion: 'networking.istio.io/v1alpha3',
    });
    expect(onlyCause(r, 'VirtualService', 'alpha').field).toBe('spec.http[0].route[0].weight');
  });

  it('prunes unknown fields with a warning by default, silently with Ignore, and rejects them with Strict', async () => {
    const withExtra = (name: string): any => {
      const o = vs(name, { ...split(100, 0), retrys: { attempts: 3 } });
      o.spec.colour = 'blue';
      return o;
    };
    // reported in the order the decoder meets them
    const warn = await request('POST', VS, withExtra('unknown-warn'));
    expect(warn.status).toBe(201);
    expect(warn.headers.warning).toBe(
      '299 - "unknown field \\"spec.http[0].retrys\\"", 299 - "unknown field \\"spec.colour\\""',
    );
    const stored = api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'unknown-warn');
    expect(stored.spec.colour).toBeUndefined();
    expect(stored.spec.http[0].retrys).toBeUndefined();
    expect(stored.spec.http[0].route).toHaveLength(2);

    const ignore = await request('POST', `${VS}?fieldValidation=Ignore`, withExtra('unknown-ignore'));
    expect(ignore.status).toBe(201);
    expect(ignore.headers.warning).toBeUndefined();
    expect(ignore.body.spec.colour).toBeUndefined();

    const strict = await request('POST', `${VS}?fieldValidation=Strict`, withExtra('unknown-strict'));
    expect(strict.status).toBe(400);
    expect(strict.body).toMatchObject({ reason: 'BadRequest', code: 400 });
    expect(strict.body.message).toBe(
      'VirtualService in version "v1" cannot be handled as a VirtualService: strict decoding error: unknown field "spec.http[0].retrys", unknown field "spec.colour"',
    );
    expect(
      api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'unknown-strict'),
    ).toBeUndefined();

    const patch = await request(
      'PATCH',
      `${VS}/unknown-warn?fieldValidation=Strict`,
      { spec: { colour: 'red' } },
      'application/merge-patch+json',
    );
    expect(patch.status).toBe(400);
    expect(patch.body.message).toBe('strict decoding error: unknown field "spec.colour"');
    const patchWarn = await request(
      'PATCH',
      `${VS}/unknown-warn`,
      { spec: { colour: 'red' } },
      'application/merge-patch+json',
    );
    expect(patchWarn.status).toBe(200);
    expect(patchWarn.headers.warning).toBe('299 - "unknown field \\"spec.colour\\""');

    // server-side apply converts the applied configuration to the schema's type: always an error
    const applied = YAML.stringify(withExtra('unknown-apply'));
    const ssa = await request(
      'PATCH',
      `${VS}/unknown-apply?fieldManager=helm&fieldValidation=Ignore`,
      applied,
      'application/apply-patch+yaml',
    );
    expect(ssa.status).toBe(500);
    expect(ssa.body.reason).toBeUndefined();
    expect(ssa.body.message).toBe(
      'failed to create typed patch object (default/unknown-apply; networking.istio.io/v1, Kind=VirtualService): errors:\n  .spec.http[0].retrys: field not declared in schema\n  .spec.colour: field not declared in schema',
    );
    const fine = await request(
      'PATCH',
      `${VS}/unknown-apply?fieldManager=helm&fieldValidation=Strict`,
      YAML.stringify(vs('unknown-apply', split(100, 0))),
      'application/apply-patch+yaml',
    );
    expect(fine.status).toBe(201);
  });

  it('keeps fields under x-kubernetes-preserve-unknown-fields (Istio status) and rejects a bad fieldValidation', async () => {
    const created = await request('POST', VS, vs('status', split(100, 0)));
    const st = await request('PUT', `${VS}/status/status`, {
      ...created.body,
      status: { observedGeneration: 1, anything: { goes: ['here'] } },
    });
    expect(st.status).toBe(200);
    expect(st.body.status.anything).toEqual({ goes: ['here'] });
    const bad = await request('POST', `${VS}?fieldValidation=Loud`, vs('fv', split(100, 0)));
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe('fieldValidation parameter unsupported: Loud');
  });

  it('checks a JSON patch result and a dry run like any write', async () => {
    await request('POST', VS, vs('jp', split(100, 0)));
    const jp = await request(
      'PATCH',
      `${VS}/jp`,
      [{ op: 'replace', path: '/spec/http/0/route/0/weight', value: '100' }],
      'application/json-patch+json',
    );
    expect(onlyCause(jp, 'VirtualService', 'jp').field).toBe('spec.http[0].route[0].weight');
    const dry = await request('POST', `${HR}?dryRun=All`, hr('dry', [{ backendRefs: [{ name: 's' }] }]));
    expect(dry.status).toBe(422);
  });
});

describe('the pure pieces', () => {
  it('prunes by schema: declared fields stay, preserved subtrees stay, nulls go', () => {
    const schema = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          properties: {
            a: { type: 'string' },
            n: { type: 'string', nullable: true },
            free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            list: { type: 'array', items: { type: 'object', properties: { x: { type: 'integer' } } } },
            port: { 'x-kubernetes-int-or-string': true },
          },
        },
      },
    };
    const obj: any = {
      apiVersion: 'v',
      kind: 'K',
      metadata: { name: 'x', bogus: 1 },
      spec: {
        a: 'ok',
        b: 'no',
        z: null,
        n: null,
        free: { any: { thing: 1 } },
        list: [{ x: 1, y: 2 }],
        port: 'http',
      },
    };
    expect(prune(obj, schema)).toEqual(['metadata.bogus', 'spec.b', 'spec.list[0].y']);
    expect(obj).toEqual({
      apiVersion: 'v',
      kind: 'K',
      metadata: { name: 'x' },
      spec: { a: 'ok', n: null, free: { any: { thing: 1 } }, list: [{ x: 1 }], port: 'http' },
    });
  });

  it('compiles every CEL rule of every served version of the three CRDs', () => {
    const rules: string[] = [];
    const walk = (n: unknown): void => {
      if (Array.isArray(n)) return n.forEach(walk);
      if (!n || typeof n !== 'object') return;
      for (const [k, v] of Object.entries(n))
        if (k === 'x-kubernetes-validations') rules.push(...(v as any[]).map((r) => r.rule));
        else walk(v);
    };
    for (const [group, kind, versions] of [
      ['networking.istio.io', 'VirtualService', ['v1', 'v1beta1', 'v1alpha3']],
      ['networking.istio.io', 'DestinationRule', ['v1', 'v1beta1', 'v1alpha3']],
      ['gateway.networking.k8s.io', 'HTTPRoute', ['v1', 'v1beta1']],
    ] as const)
      for (const v of versions) walk(crdSchema(group, kind, v)!.schema);
    expect(rules.length).toBeGreaterThan(100);
    expect(rules.filter((r) => !celProgram(r))).toEqual([]);
    expect(crdSchema('networking.istio.io', 'Gateway', 'v1')).toBeUndefined();
    expect(crdSchema('gateway.networking.k8s.io', 'HTTPRoute', 'v1alpha1')).toBeUndefined();
  });

  it('names fields as the apiserver does and escapes CEL keywords', () => {
    expect(fieldPath({ spec: { http: [{ route: [{}] }] } }, '/spec/http/0/route/0/weight')).toBe(
      'spec.http[0].route[0].weight',
    );
    expect(fieldPath({ spec: { labels: { 'a/b': 'c' } } }, '/spec/labels/a~1b')).toBe('spec.labels.a/b');
    expect(celEscape('namespace')).toBe('__namespace__');
    expect(celEscape('x-y.z')).toBe('x__dash__y__dot__z');
  });
});

describe(`CRD schema validation through the real kubectl (${toolsPair()})`, () => {
  const kubectl = (args: string[], input: string): Promise<RunResult> => run('kubectl', args, { env, input });

  it('kubectl apply of an invalid VirtualService fails with the apiserver message and writes nothing', async () => {
    const bad = YAML.stringify(vs('kubectl-bad', split('ninety', 10)));
    const r = await kubectl(['apply', '-f', '-'], bad);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'The VirtualService "kubectl-bad" is invalid: spec.http[0].route[0].weight: Invalid value: "string": spec.http[0].route[0].weight in body must be of type integer: "string"',
    );
    expect(
      api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'kubectl-bad'),
    ).toBeUndefined();
  });

  it('kubectl apply sends fieldValidation=Strict: an unknown field fails; --validate=false prunes it', async () => {
    const o = vs('kubectl-unknown', split(100, 0));
    o.spec.colour = 'blue';
    const strict = await kubectl(['apply', '-f', '-'], YAML.stringify(o));
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain('strict decoding error: unknown field "spec.colour"');
    const writes = api.writes().filter((w) => w.path.endsWith('/virtualservices'));
    expect(writes.at(-1)?.query).toContain('fieldValidation=Strict');

    const lax = await kubectl(['apply', '--validate=false', '-f', '-'], YAML.stringify(o));
    expect(lax.code).toBe(0);
    const stored = api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'kubectl-unknown');
    expect(stored.spec.colour).toBeUndefined();
    expect(stored.spec.http).toEqual(o.spec.http);
  });

  it('kubectl apply --server-side of an unknown field fails; of an invalid HTTPRoute fails with the CEL message', async () => {
    const o = vs('kubectl-ssa', split(100, 0));
    o.spec.colour = 'blue';
    const r = await kubectl(['apply', '--server-side', '-f', '-'], YAML.stringify(o));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('.spec.colour: field not declared in schema');
    const route = await kubectl(
      ['apply', '--server-side', '-f', '-'],
      YAML.stringify(hr('kubectl-hr', [{ backendRefs: [{ name: 's' }] }])),
    );
    expect(route.code).not.toBe(0);
    expect(route.stderr).toContain(
      'spec.rules[0].backendRefs[0]: Invalid value: "object": Must have port for Service reference',
    );
  });
});
