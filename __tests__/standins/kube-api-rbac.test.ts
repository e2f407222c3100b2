// RBAC in the Kubernetes API stand-in: bearer tokens -> users, Role/RoleBinding and
// ClusterRole/ClusterRoleBinding rules from the store, the apiserver's 403 message, the self
// reviews (SelfSubjectAccessReview / SelfSubjectRulesReview), driven by the REAL kubectl too.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApiServer } from '../../standins/kube-api/index.js';
import { repoRoot, run, toolsPair, type RunResult } from './tools.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

const pair = toolsPair();
const SA_USER = 'system:serviceaccount:default:helm-canary';
const SA_TOKEN = 'sa-token-helm-canary';

let api: KubeApiServer;
let home: string;
let admin: Record<string, string>;
let sa: Record<string, string>;

const kubectl = (env: Record<string, string>, ...args: string[]): Promise<RunResult> =>
  run('kubectl', args, { env });
const ok = (r: RunResult): RunResult => {
  if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};

function request(
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (data) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': data.length });
    const req = http.request(`${api.url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }),
      );
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const ssar = (token: string, resourceAttributes: Record<string, string>) =>
  request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', token, {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes },
  });

beforeAll(async () => {
  api = await KubeApiServer.start({ deploymentReadyDelayMs: 0 });
  home = mkdtempSync(join(tmpdir(), 'kube-api-rbac-'));
  api.addToken(SA_TOKEN, SA_USER, ['system:serviceaccounts', 'system:serviceaccounts:default']);
  api.addToken('ops-token', 'ops', ['ops-team']);
  admin = { KUBECONFIG: api.kubeconfigPath, KUBECACHEDIR: join(home, 'cache-admin') };
  sa = {
    KUBECONFIG: await api.userKubeconfig(join(home, 'sa.kubeconfig'), SA_TOKEN),
    KUBECACHEDIR: join(home, 'cache-sa'),
  };
});

afterAll(async () => {
  await api?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe(`kube-api stand-in RBAC (${pair} kubectl)`, () => {
  it('unknown token: 401; a user without bindings: discovery and self reviews only, 403 with the real message', async () => {
    expect((await request('GET', '/api/v1/namespaces/default/pods', 'no-such-token')).status).toBe(401);
    for (const p of ['/version', '/api', '/apis', '/api/v1', '/apis/apps/v1', '/openapi/v3'])
      expect({ p, status: (await request('GET', p, 'ops-token')).status }).toEqual({ p, status: 200 });

    const get = await request('GET', '/api/v1/namespaces/default/secrets/x', 'ops-token');
    expect(get.status).toBe(403);
    expect(get.body).toMatchObject({
      kind: 'Status',
      reason: 'Forbidden',
      code: 403,
      message:
        'secrets "x" is forbidden: User "ops" cannot get resource "secrets" in API group "" in the namespace "default"',
    });
    const list = await request(
      'GET',
      '/apis/networking.istio.io/v1/namespaces/default/virtualservices',
      'ops-token',
    );
    expect(list.body.message).toBe(
      'virtualservices.networking.istio.io is forbidden: User "ops" cannot list resource "virtualservices" in API group "networking.istio.io" in the namespace "default"',
    );
    const cluster = await request('GET', '/apis/networking.istio.io/v1/serviceentries', 'ops-token');
    expect(cluster.body.message).toBe(
      'serviceentries.networking.istio.io is forbidden: User "ops" cannot list resource "serviceentries" in API group "networking.istio.io" at the cluster scope',
    );
    const status = await request(
      'PATCH',
      '/apis/apps/v1/namespaces/default/deployments/d/status',
      'ops-token',
      {},
    );
    expect(status.body.message).toMatch(/cannot patch resource "deployments\/status" in API group "apps"/);

    const review = await ssar('ops-token', { namespace: 'default', verb: 'get', resource: 'secrets' });
    expect(review.status).toBe(201);
    expect(review.body).toMatchObject({ kind: 'SelfSubjectAccessReview', status: { allowed: false } });
    // nothing was stored by the review
    expect(api.writes().every((r) => r.status !== 201 || r.path.includes('selfsubject'))).toBe(true);
  });

  it('the admin token (the kubeconfig the stand-in writes) keeps full access', async () => {
    ok(await kubectl(admin, 'get', 'secrets', '-A'));
    expect((await ssar('standin', { verb: 'delete', resource: 'nodes' })).body.status.allowed).toBe(true);
    expect(ok(await kubectl(admin, 'auth', 'can-i', '*', '*')).stdout.trim()).toBe('yes');
  });

  it('examples/rbac.yaml applied with real kubectl: the ServiceAccount gets exactly its rules', async () => {
    ok(await kubectl(admin, 'apply', '-f', join(repoRoot, 'examples', 'rbac.yaml')));
    const canI = async (...args: string[]) => (await kubectl(sa, 'auth', 'can-i', ...args)).stdout.trim();
    expect(await canI('patch', 'virtualservices.networking.istio.io')).toBe('yes');
    expect(await canI('create', 'leases.coordination.k8s.io')).toBe('yes');
    expect(await canI('delete', 'secrets')).toBe('yes');
    expect(await canI('delete', 'virtualservices.networking.istio.io')).toBe('no');
    expect(await canI('patch', 'virtualservices.networking.istio.io', '-n', 'kube-system')).toBe('no');
    expect(await canI('get', 'namespace/default')).toBe('yes'); // its own namespace object
    expect(await canI('get', 'namespace/kube-system', '-n', 'kube-system')).toBe('no');
    ok(await kubectl(sa, 'get', 'namespace', 'default'));
    expect((await kubectl(sa, 'get', 'namespace', 'kube-system')).stderr).toContain(
      `namespaces "kube-system" is forbidden: User "${SA_USER}" cannot get resource "namespaces" in API group "" in the namespace "kube-system"`,
    );
    expect(await canI('create', 'selfsubjectaccessreviews.authorization.k8s.io')).toBe('yes');

    ok(await kubectl(sa, 'get', 'virtualservices.networking.istio.io'));
    const del = await kubectl(sa, 'delete', 'destinationrules.networking.istio.io', 'x');
    expect(del.stderr).toContain(
      `destinationrules.networking.istio.io "x" is forbidden: User "${SA_USER}" cannot delete resource "destinationrules" in API group "networking.istio.io" in the namespace "default"`,
    );
    const nodes = await kubectl(sa, 'get', 'nodes');
    expect(nodes.code).not.toBe(0);
    expect(nodes.stderr).toContain(
      `nodes is forbidden: User "${SA_USER}" cannot list resource "nodes" in API group "" at the cluster scope`,
    );

    const list = ok(await kubectl(sa, 'auth', 'can-i', '--list', '-n', 'default')).stdout;
    expect(list).toMatch(/virtualservices\.networking\.istio\.io\s+\[\]\s+\[\]\s+\[get list patch\]/);
    expect(list).toMatch(/selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]/);
  });

  it('resourceNames, Groups and ClusterRoleBindings', async () => {
    const yaml = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: 'read-one-lease' },
          rules: [
            {
              apiGroups: ['coordination.k8s.io'],
              resources: ['leases'],
              resourceNames: ['only'],
              verbs: ['get'],
            },
          ],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'ops-read-one-lease' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'read-one-lease' },
          subjects: [{ kind: 'Group', name: 'ops-team', apiGroup: 'rbac.authorization.k8s.io' }],
        },
      ],
    });
    ok(await run('kubectl', ['apply', '-f', '-'], { env: admin, input: yaml }));
    const path = (ns: string, name: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`;
    expect((await request('GET', path('kube-system', 'only'), 'ops-token')).status).toBe(404); // allowed, absent
    expect((await request('GET', path('default', 'other'), 'ops-token')).status).toBe(403);
    expect(
      (await request('GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases', 'ops-token')).status,
    ).toBe(403); // a name restriction never allows a list
  });
});
