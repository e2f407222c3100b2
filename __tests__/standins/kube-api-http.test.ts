// The Kubernetes API stand-in over plain HTTP (no binaries): discovery, OpenAPI, protobuf bodies,
// storage semantics and errors, selectors, patches, server-side apply, watch and WatchList.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { KubeApiServer } from '../../standins/kube-api/index.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../standins/kube-api/patch.js';
import { decodeKubeProtobuf } from '../../standins/kube-api/protobuf.js';
import { parseLabelSelector } from '../../standins/kube-api/selectors.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

let api: KubeApiServer;

interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
  text: string;
}

function request(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const data =
      body === undefined
        ? undefined
        : Buffer.isBuffer(body)
          ? body
          : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(
      `${api.url}${path}`,
      { method, headers: data ? { 'Content-Type': contentType, 'Content-Length': data.length } : {} },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          let parsed: any;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
        });
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Reads watch events until `until` says stop (or the stream ends); headers must come at once. */
function watch(
  path: string,
  until: (events: any[]) => boolean,
  timeoutMs = 3000,
): Promise<{ events: any[]; ended: boolean; headersAt: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = http.get(`${api.url}${path}`, (res) => {
      const headersAt = Date.now() - t0;
      const events: any[] = [];
      let buf = '';
      const timer = setTimeout(() => {
        req.destroy();
        resolve({ events, ended: false, headersAt });
      }, timeoutMs);
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
        if (until(events)) {
          clearTimeout(timer);
          req.destroy();
          resolve({ events, ended: false, headersAt });
        }
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ events, ended: true, headersAt });
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
  });
}

// --- a minimal protobuf encoder for the tests
const varint = (n: number): Buffer => {
  const out: number[] = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
};
const ld = (no: number, payload: Buffer | string): Buffer => {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  return Buffer.concat([varint(no * 8 + 2), varint(p.length), p]);
};
const vi = (no: number, n: number): Buffer => Buffer.concat([varint(no * 8), varint(n)]);
const entry = (no: number, k: string, v: Buffer | string): Buffer =>
  ld(no, Buffer.concat([ld(1, k), ld(2, v)]));
const envelope = (apiVersion: string, kind: string, raw: Buffer): Buffer =>
  Buffer.concat([
    Buffer.from('k8s\0', 'binary'),
    ld(1, Buffer.concat([ld(1, apiVersion), ld(2, kind)])),
    ld(2, raw),
    ld(4, 'application/vnd.kubernetes.protobuf'),
  ]);

beforeAll(async () => {
  api = await KubeApiServer.start({ deploymentReadyDelayMs: 50 });
});
afterAll(async () => {
  await api?.stop();
});

describe('kube-api stand-in over HTTP', () => {
  it('serves version, discovery and OpenAPI', async () => {
    expect((await request('GET', '/version')).body.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect((await request('GET', '/api')).body.versions).toEqual(['v1']);
    const groups = (await request('GET', '/apis')).body.groups;
    const istio = groups.find((g: any) => g.name === 'networking.istio.io');
    expect(istio.versions.map((v: any) => v.version)).toEqual(expect.arrayContaining(['v1', 'v1beta1']));
    expect(istio.preferredVersion.version).toBe('v1');
    expect(groups.map((g: any) => g.name)).toEqual(
      expect.arrayContaining([
        'apps',
        'batch',
        'autoscaling',
        'networking.k8s.io',
        'policy',
        'rbac.authorization.k8s.io',
        'apiextensions.k8s.io',
        'gateway.networking.k8s.io',
      ]),
    );
    const vs = (await request('GET', '/apis/networking.istio.io/v1beta1')).body.resources.find(
      (r: any) => r.name === 'virtualservices',
    );
    expect(vs).toMatchObject({
      singularName: 'virtualservice',
      namespaced: true,
      kind: 'VirtualService',
      shortNames: ['vs'],
    });
    expect(vs.verbs).toEqual(
      expect.arrayContaining(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']),
    );
    const core = (await request('GET', '/api/v1')).body.resources;
    expect(core.find((r: any) => r.name === 'services').shortNames).toEqual(['svc']);
    expect(core.find((r: any) => r.name === 'namespaces').namespaced).toBe(false);
    const apps = (await request('GET', '/apis/apps/v1')).body.resources;
    expect(apps.find((r: any) => r.name === 'deployments').shortNames).toEqual(['deploy']);
    expect((await request('GET', '/apis/nope.example.com/v1')).status).toBe(404);

    const v2 = await request('GET', '/openapi/v2');
    expect(v2.status).toBe(200);
    expect(v2.headers['content-type']).toBe('application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    const root = (await request('GET', '/openapi/v3')).body.paths;
    expect(Object.keys(root)).toEqual(
      expect.arrayContaining([
        'api/v1',
        'apis/apps/v1',
        'apis/networking.istio.io/v1',
        'apis/networking.istio.io/v1beta1',
      ]),
    );
    const doc = (await request('GET', root['apis/networking.istio.io/v1'].serverRelativeURL)).body;
    const patch =
      doc.paths['/apis/networking.istio.io/v1/namespaces/{namespace}/virtualservices/{name}'].patch;
    expect(patch['x-kubernetes-group-version-kind']).toEqual({
      group: 'networking.istio.io',
      version: 'v1',
      kind: 'VirtualService',
    });
    expect(patch.parameters.map((p: any) => p.name)).toContain('fieldValidation');
  });

  it('decodes protobuf Secret, ConfigMap and Namespace bodies and answers JSON', async () => {
    const meta = Buffer.concat([
      ld(1, 'sh.helm.release.v1.x.v1'),
      entry(11, 'owner', 'helm'),
      entry(11, 'name', 'x'),
      entry(12, 'note', 'hi'),
    ]);
    const secret = Buffer.concat([
      ld(1, meta),
      entry(2, 'release', Buffer.from([0, 1, 2, 255])),
      ld(3, 'helm.sh/release.v1'),
      entry(4, 'plain', 'text'),
    ]);
    const r = await request(
      'POST',
      '/api/v1/namespaces/default/secrets',
      envelope('v1', 'Secret', secret),
      'application/vnd.kubernetes.protobuf',
    );
    expect(r.status).toBe(201);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.body.metadata).toMatchObject({
      name: 'sh.helm.release.v1.x.v1',
      namespace: 'default',
      labels: { owner: 'helm', name: 'x' },
      annotations: { note: 'hi' },
    });
    expect(r.body.type).toBe('helm.sh/release.v1');
    expect(r.body.data).toEqual({
      release: Buffer.from([0, 1, 2, 255]).toString('base64'),
      plain: Buffer.from('text').toString('base64'),
    });
    expect(r.body.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);

    const list = await request(
      'GET',
      '/api/v1/namespaces/default/secrets?labelSelector=name%3Dx,owner%3Dhelm',
    );
    expect(list.body.items.map((s: any) => s.metadata.name)).toEqual(['sh.helm.release.v1.x.v1']);
    expect(Number(list.body.metadata.resourceVersion)).toBeGreaterThanOrEqual(
      Number(r.body.metadata.resourceVersion),
    );

    const cm = Buffer.concat([ld(1, ld(2, 'gen-')), entry(2, 'k', 'v')]);
    const c = await request(
      'POST',
      '/api/v1/namespaces/default/configmaps',
      envelope('v1', 'ConfigMap', cm),
      'application/vnd.kubernetes.protobuf',
    );
    expect(c.status).toBe(201);
    expect(c.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(c.body.data).toEqual({ k: 'v' });

    const ns = await request(
      'POST',
      '/api/v1/namespaces',
      envelope('v1', 'Namespace', ld(1, ld(1, 'proto-ns'))),
      'application/vnd.kubernetes.protobuf',
    );
    expect(ns.body).toMatchObject({
      kind: 'Namespace',
      metadata: { name: 'proto-ns' },
      status: { phase: 'Active' },
    });

    const del = envelope('meta.k8s.io/v1', 'DeleteOptions', Buffer.concat([vi(1, 0), ld(4, 'Foreground')]));
    expect(decodeKubeProtobuf(del)).toMatchObject({
      kind: 'DeleteOptions',
      gracePeriodSeconds: 0,
      propagationPolicy: 'Foreground',
    });
    const d = await request(
      'DELETE',
      '/api/v1/namespaces/default/secrets/sh.helm.release.v1.x.v1',
      del,
      'application/vnd.kubernetes.protobuf',
    );
    expect(d.status).toBe(200);
    expect((await request('GET', '/api/v1/namespaces/default/secrets/sh.helm.release.v1.x.v1')).status).toBe(
      404,
    );
    const bad = await request(
      'POST',
      '/api/v1/namespaces/default/pods',
      envelope('v1', 'Pod', Buffer.alloc(0)),
      'application/vnd.kubernetes.protobuf',
    );
    expect(bad.status).toBe(415);
  });

  it('answers Kubernetes Status errors: 404, 409 AlreadyExists, 409 Conflict, 422 Invalid, 400', async () => {
    const nf = await request('GET', '/apis/apps/v1/namespaces/default/deployments/missing');
    expect(nf.status).toBe(404);
    expect(nf.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'deployments.apps "missing" not found',
      reason: 'NotFound',
      details: { name: 'missing', group: 'apps', kind: 'deployments' },
      code: 404,
    });
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c1' }, data: { a: '1' } };
    const created = await request('POST', '/api/v1/namespaces/default/configmaps', cm);
    expect(created.status).toBe(201);
    const dup = await request('POST', '/api/v1/namespaces/default/configmaps', cm);
    expect(dup.body).toMatchObject({
      code: 409,
      reason: 'AlreadyExists',
      message: 'configmaps "c1" already exists',
    });
    const updated = await request('PUT', '/api/v1/namespaces/default/configmaps/c1', {
      ...created.body,
      data: { a: '2' },
    });
    expect(updated.status).toBe(200);
    expect(Number(updated.body.metadata.resourceVersion)).toBeGreaterThan(
      Number(created.body.metadata.resourceVersion),
    );
    const stale = await request('PUT', '/api/v1/namespaces/default/configmaps/c1', {
      ...created.body,
      data: { a: '3' },
    });
    expect(stale.body).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(stale.body.message).toContain(
      'the object has been modified; please apply your changes to the latest version and try again',
    );
    const noNs = await request('POST', '/api/v1/namespaces/nowhere/configmaps', cm);
    expect(noNs.body).toMatchObject({
      code: 404,
      reason: 'NotFound',
      message: 'namespaces "nowhere" not found',
    });
    const badName = await request('POST', '/api/v1/namespaces/default/configmaps', {
      ...cm,
      metadata: { name: 'Bad_Name' },
    });
    expect(badName.body).toMatchObject({
      code: 422,
      reason: 'Invalid',
      details: { name: 'Bad_Name', kind: 'ConfigMap', causes: [{ field: 'metadata.name' }] },
    });
    const boolAnnotation = await request('POST', '/api/v1/namespaces/default/configmaps', {
      ...cm,
      metadata: { name: 'c2', annotations: { flag: true } },
    });
    expect(boolAnnotation.body).toMatchObject({ code: 400, reason: 'BadRequest' });
    expect(boolAnnotation.body.message).toContain(
      'cannot unmarshal bool into Go struct field ObjectMeta.metadata.annotations of type string',
    );
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r' },
      spec: { rules: [{ backendRefs: [{ name: 'a', port: 80, weight: 1000001 }] }] },
    };
    const hr = await request(
      'POST',
      '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes',
      route,
    );
    expect(hr.body).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(hr.body.message).toContain('spec.rules[0].backendRefs[0].weight');
    route.spec.rules[0].backendRefs[0].weight = 1000000;
    expect(
      (await request('POST', '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes', route))
        .status,
    ).toBe(201);
  });

  it('tracks generation, status subresource and defaults', async () => {
    const dep = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      },
      status: { readyReplicas: 99 },
    };
    const c = await request('POST', '/apis/apps/v1/namespaces/default/deployments', dep);
    expect(c.body.metadata.generation).toBe(1);
    expect(c.body.spec.replicas).toBe(1);
    expect(c.body.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
    });
    expect(c.body.status).toBeUndefined();
    const labelOnly = await request(
      'PATCH',
      '/apis/apps/v1/namespaces/default/deployments/web',
      { metadata: { labels: { x: 'y' } } },
      'application/merge-patch+json',
    );
    expect(labelOnly.body.metadata.generation).toBe(1);
    const spec = await request(
      'PATCH',
      '/apis/apps/v1/namespaces/default/deployments/web',
      { spec: { replicas: 2 }, status: { readyReplicas: 5 } },
      'application/merge-patch+json',
    );
    expect(spec.body.metadata.generation).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    const live = (await request('GET', '/apis/apps/v1/namespaces/default/deployments/web')).body;
    expect(live.status).toMatchObject({ observedGeneration: 2, readyReplicas: 2, replicas: 2 });
    const scale = await request('GET', '/apis/apps/v1/namespaces/default/deployments/web/scale');
    expect(scale.body).toMatchObject({
      kind: 'Scale',
      spec: { replicas: 2 },
      status: { selector: 'app=web' },
    });
    const st = await request('PUT', '/apis/apps/v1/namespaces/default/deployments/web/status', {
      ...live,
      spec: { replicas: 7 },
      status: { ...live.status, readyReplicas: 1 },
    });
    expect(st.body.status.readyReplicas).toBe(1);
    expect(st.body.spec.replicas).toBe(2);
    const svc = await request('POST', '/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    expect(svc.body.spec).toMatchObject({
      type: 'ClusterIP',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    });
    expect(svc.body.spec.clusterIP).toMatch(/^10\.96\./);
  });

  it('supports label and field selectors on lists', async () => {
    for (const [name, labels] of [
      ['s1', { app: 'a', tier: 'web' }],
      ['s2', { app: 'b', tier: 'web' }],
      ['s3', { app: 'c' }],
    ] as const)
      await request('POST', '/api/v1/namespaces/default/serviceaccounts', {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name, labels },
      });
    const names = async (q: string) =>
      (await request('GET', `/api/v1/namespaces/default/serviceaccounts?${q}`)).body.items.map(
        (o: any) => o.metadata.name,
      );
    expect(await names('labelSelector=tier%3Dweb')).toEqual(['s1', 's2']);
    expect(await names('labelSelector=tier%3D%3Dweb,app!%3Da')).toEqual(['s2']);
    expect(await names(`labelSelector=${encodeURIComponent('app in (a,c)')}`)).toEqual(['s1', 's3']);
    expect(await names(`labelSelector=${encodeURIComponent('app notin (a,c),app')}`)).toEqual(['s2']);
    expect(await names('labelSelector=!tier,app')).toEqual(['s3']);
    expect(await names('fieldSelector=metadata.name%3Ds2')).toEqual(['s2']);
    expect(
      await names('fieldSelector=metadata.name!%3Ds2,metadata.namespace%3Ddefault&labelSelector=app'),
    ).toEqual(['s1', 's3']);
    expect(
      (await request('GET', '/api/v1/serviceaccounts?fieldSelector=metadata.namespace%3Ddefault')).body.items
        .length,
    ).toBeGreaterThanOrEqual(4);
    expect(
      (await request('GET', '/api/v1/namespaces/default/serviceaccounts?labelSelector=a%20b%20c')).status,
    ).toBe(400);
    expect(parseLabelSelector('x')({ metadata: { labels: { x: '' } } })).toBe(true);
  });

  it('applies JSON, merge and strategic merge patches', () => {
    const doc = { metadata: { resourceVersion: '5' }, spec: { list: [1, 2], m: { a: 1 } } };
    expect(
      applyJsonPatch(doc, [
        { op: 'add', path: '/spec/list/-', value: 3 },
        { op: 'remove', path: '/spec/m/a' },
        { op: 'copy', from: '/spec/list', path: '/spec/copy' },
        { op: 'move', from: '/spec/copy', path: '/spec/moved' },
      ]),
    ).toEqual({
      metadata: { resourceVersion: '5' },
      spec: { list: [1, 2, 3], m: {}, moved: [1, 2, 3] },
    });
    expect(() =>
      applyJsonPatch(doc, [{ op: 'test', path: '/metadata/resourceVersion', value: '4' }]),
    ).toThrow('testing value failed');
    expect(applyMergePatch(doc, { spec: { list: [9], m: null } })).toEqual({
      metadata: { resourceVersion: '5' },
      spec: { list: [9] },
    });
    const pod = {
      containers: [
        { name: 'a', image: 'x', ports: [{ containerPort: 80 }], env: [{ name: 'E', value: '1' }] },
        { name: 'b', image: 'y' },
      ],
      tolerations: [{ key: 't' }],
    };
    const out = applyStrategicMergePatch(
      pod,
      {
        $setElementOrder: undefined,
        '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }],
        containers: [
          { name: 'a', image: 'x2', ports: [{ containerPort: 81 }], env: [{ name: 'E', $patch: 'delete' }] },
          { name: 'c', image: 'z' },
        ],
        tolerations: [{ key: 'u' }],
      },
      true,
    );
    expect(out).toEqual({
      containers: [
        { name: 'b', image: 'y' },
        { name: 'a', image: 'x2', ports: [{ containerPort: 80 }, { containerPort: 81 }], env: [] },
        { name: 'c', image: 'z' },
      ],
      tolerations: [{ key: 'u' }],
    });
    expect(
      applyStrategicMergePatch({ spec: { a: 1, b: 2 } }, { spec: { $patch: 'replace', c: 3 } }, true),
    ).toEqual({ spec: { c: 3 } });
  });

  it('rejects strategic merge patch for custom resources (415) and keeps managedFields per manager', async () => {
    const vs = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'v' },
      spec: { hosts: ['h'], http: [{ route: [{ destination: { host: 'a' }, weight: 100 }] }] },
    };
    const a = await request(
      'PATCH',
      '/apis/networking.istio.io/v1/namespaces/default/virtualservices/v?fieldManager=helm&force=false',
      JSON.stringify(vs),
      'application/apply-patch+yaml',
    );
    expect(a.status).toBe(201);
    expect(a.body.metadata.managedFields).toEqual([
      {
        manager: 'helm',
        operation: 'Apply',
        apiVersion: 'networking.istio.io/v1',
        time: expect.any(String),
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:hosts': {}, 'f:http': {} } },
      },
    ]);
    const smp = await request(
      'PATCH',
      '/apis/networking.istio.io/v1/namespaces/default/virtualservices/v',
      { spec: { hosts: ['x'] } },
      'application/strategic-merge-patch+json',
    );
    expect(smp.status).toBe(415);
    // same value applied by another manager: shared ownership, no conflict
    const shared = await request(
      'PATCH',
      '/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices/v?fieldManager=other',
      JSON.stringify({ ...vs, apiVersion: 'networking.istio.io/v1beta1' }),
      'application/apply-patch+yaml',
    );
    expect(shared.status).toBe(200);
    expect(shared.body.metadata.managedFields.map((m: any) => m.manager)).toEqual(['helm', 'other']);
    // a different value: conflict with both
    const changed = { ...vs, spec: { ...vs.spec, hosts: ['new'] } };
    const c = await request(
      'PATCH',
      '/apis/networking.istio.io/v1/namespaces/default/virtualservices/v?fieldManager=third',
      JSON.stringify(changed),
      'application/apply-patch+yaml',
    );
    expect(c.status).toBe(409);
    expect(c.body.reason).toBe('Conflict');
    expect(c.body.message).toBe(
      'Apply failed with 2 conflicts: conflicts with "helm" using networking.istio.io/v1:\n- .spec.hosts\nconflicts with "other" using networking.istio.io/v1beta1:\n- .spec.hosts',
    );
    expect(c.body.details.causes).toEqual([
      {
        type: 'FieldManagerConflict',
        message: 'conflict with "helm" using networking.istio.io/v1',
        field: '.spec.hosts',
      },
      {
        type: 'FieldManagerConflict',
        message: 'conflict with "other" using networking.istio.io/v1beta1',
        field: '.spec.hosts',
      },
    ]);
    // the applier dropping a field it alone owned removes it
    const dropped = await request(
      'PATCH',
      '/apis/networking.istio.io/v1/namespaces/default/virtualservices/v?fieldManager=helm',
      JSON.stringify({ ...vs, metadata: { name: 'v', labels: { l: 'x' } } }),
      'application/apply-patch+yaml',
    );
    expect(dropped.body.metadata.labels).toEqual({ l: 'x' });
    const dropped2 = await request(
      'PATCH',
      '/apis/networking.istio.io/v1/namespaces/default/virtualservices/v?fieldManager=helm',
      JSON.stringify(vs),
      'application/apply-patch+yaml',
    );
    expect(dropped2.body.metadata.labels).toEqual({});
    expect(dropped2.body.spec.hosts).toEqual(['h']);
  });

  it('watches: headers at once, initial ADDED, live events, resourceVersion replay, timeoutSeconds', async () => {
    const base = '/api/v1/namespaces/default/configmaps';
    await request('POST', base, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1' } });
    const rv = (await request('GET', base)).body.metadata.resourceVersion;
    const live = watch(`${base}?watch=true&fieldSelector=metadata.name%3Dw2`, (ev) => ev.length >= 3);
    await new Promise((r) => setTimeout(r, 100));
    await request('POST', base, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w2' } });
    await request('PATCH', `${base}/w2`, { data: { a: 'b' } }, 'application/merge-patch+json');
    await request('DELETE', `${base}/w2`);
    const got = await live;
    expect(got.headersAt).toBeLessThan(100);
    expect(got.events.map((e) => [e.type, e.object.metadata.name])).toEqual([
      ['ADDED', 'w2'],
      ['MODIFIED', 'w2'],
      ['DELETED', 'w2'],
    ]);
    expect(got.events[0].object).toMatchObject({ kind: 'ConfigMap', apiVersion: 'v1' });
    const replay = await watch(`${base}?watch=1&resourceVersion=${rv}`, (ev) => ev.length >= 3);
    expect(replay.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    const initial = await watch(`${base}?watch=true&timeoutSeconds=1`, () => false, 3000);
    expect(initial.ended).toBe(true);
    expect(initial.events.map((e) => [e.type, e.object.metadata.name])).toEqual(
      expect.arrayContaining([['ADDED', 'w1']]),
    );
  });

  it('implements WatchList: initial events, then a bookmark marking their end', async () => {
    const base = '/apis/networking.istio.io/v1/namespaces/default/virtualservices';
    const wl = await watch(
      `${base}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`,
      (ev) => ev.some((e) => e.type === 'BOOKMARK'),
    );
    const types = wl.events.map((e) => e.type);
    expect(types[types.length - 1]).toBe('BOOKMARK');
    expect(types.slice(0, -1).every((t) => t === 'ADDED')).toBe(true);
    expect(wl.events.find((e) => e.object.metadata.name === 'v')).toBeDefined();
    const bm = wl.events[wl.events.length - 1].object;
    expect(bm).toMatchObject({
      kind: 'VirtualService',
      apiVersion: 'networking.istio.io/v1',
      metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } },
    });
    expect(Number(bm.metadata.resourceVersion)).toBeGreaterThan(0);
    const bad = await request('GET', `${base}?watch=true&sendInitialEvents=true`);
    expect(bad.status).toBe(422);
  });

  it('logs requests, filters writes and injects faults', async () => {
    api.clearRequests();
    api.injectFault({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', status: 500, count: 2 });
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'f1' } };
    expect((await request('POST', '/api/v1/namespaces/default/configmaps', cm)).status).toBe(500);
    expect((await request('POST', '/api/v1/namespaces/default/configmaps', cm)).body).toMatchObject({
      kind: 'Status',
      code: 500,
      reason: 'InternalError',
    });
    expect((await request('POST', '/api/v1/namespaces/default/configmaps?fieldManager=me', cm)).status).toBe(
      201,
    );
    await request('GET', '/api/v1/namespaces/default/configmaps/f1');
    expect(api.writes().map((w) => [w.method, w.status, w.fieldManager])).toEqual([
      ['POST', 500, undefined],
      ['POST', 500, undefined],
      ['POST', 201, 'me'],
    ]);
    expect(api.requests).toHaveLength(4);
    expect(api.requests[2]).toMatchObject({
      path: '/api/v1/namespaces/default/configmaps',
      query: 'fieldManager=me',
      contentType: 'application/json',
    });
    expect(
      api.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'f1' }, data: { x: 'y' } }).data,
    ).toEqual({ x: 'y' });
    expect(api.listObjects('v1', 'ConfigMap', 'default').find((o) => o.metadata.name === 'f1').data).toEqual({
      x: 'y',
    });
  });
});
