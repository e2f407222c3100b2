// The Kubernetes API stand-in, driven by the REAL helm and kubectl (pair from HELM_CANARY_TOOLS).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApiServer } from '../../standins/kube-api/index.js';
import { chartsDir, run, toolsPair, type RunResult } from './tools.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

const pair = toolsPair();
const SAMPLE = join(chartsDir, 'sample');
const GATEWAY = join(chartsDir, 'sample-gateway');

let api: KubeApiServer;
let home: string;
let env: Record<string, string>;

const helm = (...args: string[]): Promise<RunResult> => run('helm', args, { env });
const kubectl = (...args: string[]): Promise<RunResult> => run('kubectl', args, { env });
const ok = (r: RunResult): RunResult => {
  if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};
const kubectlApplyFile = (yaml: string, ...args: string[]): Promise<RunResult> => {
  const f = join(home, `m-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, yaml);
  return kubectl('apply', '-f', f, ...args);
};

beforeAll(async () => {
  // 0 = ready right after each write: helm 3 --wait polls every 2 s, so any delay costs 2 s a wait
  api = await KubeApiServer.start({ deploymentReadyDelayMs: 0 });
  home = mkdtempSync(join(tmpdir(), 'kube-api-test-'));
  env = {
    KUBECONFIG: api.kubeconfigPath,
    KUBECACHEDIR: join(home, 'kube-cache'),
    HELM_CACHE_HOME: join(home, 'helm-cache'),
    HELM_CONFIG_HOME: join(home, 'helm-config'),
    HELM_DATA_HOME: join(home, 'helm-data'),
  };
});

afterAll(async () => {
  await api?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe(`kube-api stand-in with real ${pair} helm + kubectl`, () => {
  it('serves the sample chart lifecycle: install --wait, upgrade --install, list, status, manifest, history, rollback, uninstall', async () => {
    const ns = 'lifecycle';
    ok(await kubectl('create', 'namespace', ns)); // protobuf Namespace body
    ok(await helm('install', 'foolish-penguin', SAMPLE, '-n', ns, '--wait', '--timeout', '30s'));

    const dep = api.getObject('apps/v1', 'Deployment', ns, 'foolish-penguin-sample');
    expect(dep.spec.template.spec.containers[0].args).toEqual(['-text=hello world v1']);
    expect(dep.spec.template.spec.containers[0].ports[0].containerPort).toBe(5678);
    expect(dep.status).toMatchObject({
      replicas: 1,
      readyReplicas: 1,
      updatedReplicas: 1,
      availableReplicas: 1,
      observedGeneration: 1,
    });
    expect(dep.status.conditions.find((c: any) => c.type === 'Progressing').reason).toBe(
      'NewReplicaSetAvailable',
    );
    const [rs] = api.listObjects('apps/v1', 'ReplicaSet', ns);
    expect(rs.metadata.ownerReferences[0]).toMatchObject({
      kind: 'Deployment',
      uid: dep.metadata.uid,
      controller: true,
    });
    expect(rs.metadata.labels['pod-template-hash']).toBe(rs.metadata.name.split('-').pop());
    expect(api.getObject('v1', 'Service', ns, 'foolish-penguin-sample').spec.clusterIP).toMatch(/^10\.96\./);
    const pods = ok(
      await kubectl(
        'get',
        'pods',
        '-n',
        ns,
        '-l',
        'app.kubernetes.io/instance=foolish-penguin',
        '-o',
        'jsonpath={.items[*].metadata.name} {.items[*].status.phase}',
      ),
    ).stdout;
    expect(pods).toBe(`${rs.metadata.name}-${pods.split('-').pop()!.split(' ')[0]} Running`);

    // release storage: Secrets labelled owner=helm, written as protobuf
    const secrets = api.listObjects('v1', 'Secret', ns);
    expect(secrets.map((s) => s.metadata.name)).toEqual(['sh.helm.release.v1.foolish-penguin.v1']);
    expect(secrets[0].metadata.labels).toMatchObject({
      owner: 'helm',
      name: 'foolish-penguin',
      status: 'deployed',
    });
    expect(secrets[0].type).toBe('helm.sh/release.v1');
    expect(
      api
        .writes()
        .some((w) => w.contentType === 'application/vnd.kubernetes.protobuf' && w.path.endsWith('/secrets')),
    ).toBe(true);

    const list = JSON.parse(ok(await helm('list', '-n', ns, '-o', 'json')).stdout);
    expect(list).toEqual([
      expect.objectContaining({ name: 'foolish-penguin', status: 'deployed', revision: '1' }),
    ]);

    ok(
      await helm(
        'upgrade',
        '--install',
        'foolish-penguin',
        SAMPLE,
        '-n',
        ns,
        '--set',
        'args[0]=-text=hello world v2',
        '--wait',
        '--timeout',
        '30s',
      ),
    );
    const dep2 = api.getObject('apps/v1', 'Deployment', ns, 'foolish-penguin-sample');
    expect(dep2.spec.template.spec.containers[0].args).toEqual(['-text=hello world v2']);
    expect(dep2.metadata.generation).toBe(2);
    expect(dep2.status.observedGeneration).toBe(2);
    const rss = api.listObjects('apps/v1', 'ReplicaSet', ns);
    expect(rss).toHaveLength(2);
    expect(rss.map((r) => r.spec.replicas).sort()).toEqual([0, 1]);

    const status = JSON.parse(ok(await helm('status', 'foolish-penguin', '-n', ns, '-o', 'json')).stdout);
    expect(status.version).toBe(2);
    expect(status.info.status).toBe('deployed');
    expect(ok(await helm('get', 'manifest', 'foolish-penguin', '-n', ns)).stdout).toContain(
      '-text=hello world v2',
    );

    ok(await helm('rollback', 'foolish-penguin', '1', '-n', ns, '--wait', '--timeout', '30s'));
    expect(
      api.getObject('apps/v1', 'Deployment', ns, 'foolish-penguin-sample').spec.template.spec.containers[0]
        .args,
    ).toEqual(['-text=hello world v1']);
    const history = JSON.parse(ok(await helm('history', 'foolish-penguin', '-n', ns, '-o', 'json')).stdout);
    expect(history.map((h: any) => [h.revision, h.status])).toEqual([
      [1, 'superseded'],
      [2, 'superseded'],
      [3, 'deployed'],
    ]);
    expect(api.listObjects('v1', 'Secret', ns)).toHaveLength(3);

    ok(await helm('uninstall', 'foolish-penguin', '-n', ns));
    expect(api.listObjects('apps/v1', 'Deployment', ns)).toHaveLength(0);
    expect(api.listObjects('apps/v1', 'ReplicaSet', ns)).toHaveLength(0); // garbage-collected
    expect(api.listObjects('v1', 'Secret', ns)).toHaveLength(0);
    expect(JSON.parse(ok(await helm('list', '-n', ns, '-o', 'json')).stdout)).toEqual([]);
  });

  it('installs the gateway chart and kubectl reads it: names, vs short name, -o json, -L', async () => {
    const ns = 'gw-read';
    ok(
      await helm(
        'install',
        'gw',
        GATEWAY,
        '-n',
        ns,
        '--create-namespace',
        '--set',
        'routes[0].service=a',
        '--set',
        'routes[0].weight=100',
      ),
    );
    const gw = api.getObject('networking.istio.io/v1', 'Gateway', ns, 'gw-gateway');
    expect(gw.spec).toEqual({
      selector: { istio: 'ingressgateway' },
      servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
    });
    // same storage, any served version
    expect(api.getObject('networking.istio.io/v1beta1', 'VirtualService', ns, 'gw-vs').apiVersion).toBe(
      'networking.istio.io/v1beta1',
    );

    expect(ok(await kubectl('get', 'vs', '-n', ns, '-o', 'name')).stdout.trim()).toBe(
      'virtualservice.networking.istio.io/gw-vs',
    );
    const vs = JSON.parse(ok(await kubectl('get', 'virtualservice', 'gw-vs', '-n', ns, '-o', 'json')).stdout);
    expect(vs.spec.hosts).toEqual(['127.0.0.1.xip.io']);
    expect(vs.spec.http[0].route).toEqual([
      { destination: { host: 'a', port: { number: 80 } }, weight: 100 },
    ]);
    expect(vs.metadata.managedFields).toBeUndefined(); // kubectl hides them unless --show-managed-fields
    expect(
      api.getObject('networking.istio.io/v1', 'VirtualService', ns, 'gw-vs').metadata.managedFields[0]
        .manager,
    ).toBe('helm');
    const table = ok(await kubectl('get', 'vs', '-n', ns, '-L', 'app.kubernetes.io/instance')).stdout;
    expect(table).toMatch(/NAME\s+.*INSTANCE/);
    expect(table).toMatch(/gw-vs\s+.*gw/);
    expect(
      ok(await kubectl('get', 'gw', 'gw-gateway', '-n', ns, '-o', 'jsonpath={.spec.selector.istio}')).stdout,
    ).toBe('ingressgateway');
    expect(
      ok(await kubectl('get', 'vs', '-A', '-l', 'app.kubernetes.io/instance=gw', '-o', 'name')).stdout.trim(),
    ).toBe('virtualservice.networking.istio.io/gw-vs');
    expect(
      ok(
        await kubectl('get', 'vs', '-n', ns, '-l', 'app.kubernetes.io/instance notin (gw)', '-o', 'name'),
      ).stdout.trim(),
    ).toBe('');
    expect(
      ok(
        await kubectl('get', 'vs', '-A', '--field-selector', `metadata.namespace=${ns}`, '-o', 'name'),
      ).stdout.trim(),
    ).toBe('virtualservice.networking.istio.io/gw-vs');
    ok(await helm('uninstall', 'gw', '-n', ns));
    const gone = await kubectl('get', 'vs', 'gw-vs', '-n', ns);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('virtualservices.networking.istio.io "gw-vs" not found');
  });

  it('kubectl apply (client-side and --server-side), patch json|merge|strategic, replace, annotate, label, rollout status, delete', async () => {
    const ns = 'kubectl-ops';
    ok(await kubectl('create', 'namespace', ns));
    const deployment = (text: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
  namespace: ${ns}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
        - name: echo
          image: hashicorp/http-echo:1.0
          args: ["-text=${text}"]
          ports: [{containerPort: 5678}]
          env: [{name: A, value: "1"}]
`;
    ok(await kubectlApplyFile(deployment('one')));
    ok(await kubectl('rollout', 'status', 'deployment/echo', '-n', ns, '--timeout=20s'));
    ok(await kubectlApplyFile(deployment('two'))); // three-way strategic merge patch
    let d = api.getObject('apps/v1', 'Deployment', ns, 'echo');
    expect(d.spec.template.spec.containers[0].args).toEqual(['-text=two']);
    expect(d.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('-text=two');
    expect(
      ok(await kubectl('rollout', 'status', 'deployment/echo', '-n', ns, '--timeout=20s')).stdout,
    ).toContain('successfully rolled out');

    // strategic merge: containers merged by name, env by name
    ok(
      await kubectl(
        'patch',
        'deployment',
        'echo',
        '-n',
        ns,
        '--type=strategic',
        '-p',
        JSON.stringify({
          spec: { template: { spec: { containers: [{ name: 'echo', env: [{ name: 'B', value: '2' }] }] } } },
        }),
      ),
    );
    d = api.getObject('apps/v1', 'Deployment', ns, 'echo');
    expect(d.spec.template.spec.containers).toHaveLength(1);
    expect(d.spec.template.spec.containers[0].env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ]);
    expect(d.spec.template.spec.containers[0].image).toBe('hashicorp/http-echo:1.0');
    ok(
      await kubectl(
        'patch',
        'deployment',
        'echo',
        '-n',
        ns,
        '-p',
        JSON.stringify({
          spec: {
            template: { spec: { containers: [{ name: 'echo', env: [{ name: 'A', $patch: 'delete' }] }] } },
          },
        }),
      ),
    );
    expect(api.getObject('apps/v1', 'Deployment', ns, 'echo').spec.template.spec.containers[0].env).toEqual([
      { name: 'B', value: '2' },
    ]);
    ok(
      await kubectl('patch', 'deployment', 'echo', '-n', ns, '--type=merge', '-p', '{"spec":{"replicas":2}}'),
    );
    ok(
      await kubectl(
        'patch',
        'deployment',
        'echo',
        '-n',
        ns,
        '--type=json',
        '-p',
        '[{"op":"replace","path":"/spec/replicas","value":3}]',
      ),
    );
    expect(api.getObject('apps/v1', 'Deployment', ns, 'echo').spec.replicas).toBe(3);
    ok(await kubectl('rollout', 'status', 'deployment/echo', '-n', ns, '--timeout=20s'));
    expect(api.getObject('apps/v1', 'Deployment', ns, 'echo').status.readyReplicas).toBe(3);

    ok(await kubectl('annotate', 'deployment', 'echo', '-n', ns, 'team=canary'));
    ok(await kubectl('label', 'deployment', 'echo', '-n', ns, 'tier=web'));
    d = api.getObject('apps/v1', 'Deployment', ns, 'echo');
    expect(d.metadata.annotations.team).toBe('canary');
    expect(d.metadata.labels.tier).toBe('web');
    const managers = d.metadata.managedFields.map((m: any) => m.manager);
    expect(managers).toEqual(
      expect.arrayContaining([
        'kubectl-client-side-apply',
        'kubectl-patch',
        'kubectl-annotate',
        'kubectl-label',
      ]),
    );

    // replace = PUT
    const live = JSON.parse(ok(await kubectl('get', 'deployment', 'echo', '-n', ns, '-o', 'json')).stdout);
    live.spec.template.spec.containers[0].args = ['-text=replaced'];
    const f = join(home, 'replace.json');
    writeFileSync(f, JSON.stringify(live));
    ok(await kubectl('replace', '-f', f));
    expect(api.getObject('apps/v1', 'Deployment', ns, 'echo').spec.template.spec.containers[0].args).toEqual([
      '-text=replaced',
    ]);
    // the same (now stale) resourceVersion again: 409 Conflict
    const stale = await kubectl('replace', '-f', f);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain('the object has been modified');

    // server-side apply of a ConfigMap by kubectl, then a conflicting apply by another manager
    const cm = (v: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: ${ns}}\ndata: {mode: "${v}"}\n`;
    ok(await kubectlApplyFile(cm('a'), '--server-side'));
    const conflictRes = await kubectlApplyFile(cm('b'), '--server-side', '--field-manager=other');
    expect(conflictRes.code).not.toBe(0);
    expect(conflictRes.stderr).toContain('conflict with "kubectl"');
    ok(await kubectlApplyFile(cm('b'), '--server-side', '--field-manager=other', '--force-conflicts'));
    const cmLive = api.getObject('v1', 'ConfigMap', ns, 'settings');
    expect(cmLive.data.mode).toBe('b');
    const other = cmLive.metadata.managedFields.find((m: any) => m.manager === 'other');
    expect(other).toMatchObject({
      operation: 'Apply',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { 'f:mode': {} } },
    });

    ok(await kubectl('delete', 'deployment', 'echo', '-n', ns, '--timeout=20s'));
    expect(api.getObject('apps/v1', 'Deployment', ns, 'echo')).toBeUndefined();
    expect(api.listObjects('apps/v1', 'ReplicaSet', ns)).toHaveLength(0);
    ok(await kubectl('delete', 'namespace', ns, '--timeout=20s'));
    expect(api.listObjects('v1', 'ConfigMap', ns)).toHaveLength(0);
  });

  it('rejects a guarded JSON patch whose test on resourceVersion is stale (422 Invalid)', async () => {
    ok(
      await helm(
        'install',
        'guard',
        GATEWAY,
        '--set',
        'routes[0].service=a',
        '--set',
        'routes[0].weight=100',
      ),
    );
    const vs = api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'guard-vs');
    const stalePatch = JSON.stringify([
      {
        op: 'test',
        path: '/metadata/resourceVersion',
        value: String(Number(vs.metadata.resourceVersion) - 1),
      },
      { op: 'replace', path: '/spec/http/0/route/0/weight', value: 50 },
    ]);
    const r = await kubectl('patch', 'vs', 'guard-vs', '--type=json', '-p', stalePatch);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('the server rejected our request due to an error in our request');
    const last = api.requests.filter((q) => q.method === 'PATCH').pop()!;
    expect(last.status).toBe(422);
    const freshPatch = JSON.stringify([
      { op: 'test', path: '/metadata/resourceVersion', value: vs.metadata.resourceVersion },
      { op: 'replace', path: '/spec/http/0/route/0/weight', value: 100 },
    ]);
    ok(await kubectl('patch', 'vs', 'guard-vs', '--type=json', '-p', freshPatch));
    ok(await helm('uninstall', 'guard'));
  });

  it('rejects destination weights summing to 90 when requireWeightSum100 is on (old Istio webhook)', async () => {
    const two = [
      '--set',
      'routes[0].service=a',
      '--set',
      'routes[0].weight=50',
      '--set',
      'routes[1].service=b',
      '--set',
      'routes[1].weight=40',
    ];
    api.setRequireWeightSum100(true);
    try {
      const r = await helm('install', 'sum90', GATEWAY, ...two);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(
        'admission webhook "validation.istio.io" denied the request: configuration is invalid: total destination weight 90 != 100',
      );
      expect(api.requests.some((q) => q.status === 400 && q.path.includes('/virtualservices'))).toBe(true);
      ok(await helm('uninstall', 'sum90'));
    } finally {
      api.setRequireWeightSum100(false);
    }
    // current Istio: any sum is accepted, negative weights are not
    ok(await helm('install', 'sum90', GATEWAY, ...two));
    const neg = await kubectl(
      'patch',
      'vs',
      'sum90-vs',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/http/0/route/0/weight","value":-1}]',
    );
    expect(neg.code).not.toBe(0);
    expect(neg.stderr).toContain('weight -1 < 0');
    ok(await helm('uninstall', 'sum90'));
  });

  it('times out helm install --wait of a never-ready Deployment', async () => {
    const started = Date.now();
    const r = await helm(
      'install',
      'stuck',
      SAMPLE,
      '-n',
      'stuck',
      '--create-namespace',
      '--wait',
      '--timeout',
      '5s',
      '--set-string',
      'podAnnotations.standin\\.helm-canary/never-ready=true',
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/context deadline exceeded|timed out|timeout/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4500);
    const dep = api.getObject('apps/v1', 'Deployment', 'stuck', 'stuck-sample');
    expect(dep.status.readyReplicas ?? 0).toBe(0);
    expect(dep.status.observedGeneration).toBe(1);
    const rollout = await kubectl(
      'rollout',
      'status',
      'deployment/stuck-sample',
      '-n',
      'stuck',
      '--timeout=1s',
    );
    expect(rollout.code).not.toBe(0);
    expect(rollout.stdout + rollout.stderr).toMatch(
      /Waiting for deployment "stuck-sample" rollout to finish: 0 of 1 updated replicas are available/,
    );
  });

  if (pair === 'helm4') {
    it('helm 4: after kubectl patch changes spec.http, helm upgrade conflicts; --force-conflicts takes ownership back', async () => {
      ok(
        await helm(
          'install',
          'drift',
          GATEWAY,
          '--set',
          'routes[0].service=a',
          '--set',
          'routes[0].weight=100',
        ),
      );
      ok(
        await kubectl(
          'patch',
          'vs',
          'drift-vs',
          '--type=json',
          '-p',
          '[{"op":"add","path":"/spec/http/0/route/-","value":{"destination":{"host":"b"},"weight":50}},{"op":"replace","path":"/spec/http/0/route/0/weight","value":50}]',
        ),
      );
      let vs = api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'drift-vs');
      const owners = Object.fromEntries(vs.metadata.managedFields.map((m: any) => [m.manager, m]));
      expect(owners.helm).toMatchObject({
        operation: 'Apply',
        apiVersion: 'networking.istio.io/v1',
        fieldsType: 'FieldsV1',
      });
      expect(owners.helm.fieldsV1['f:spec']['f:http']).toBeUndefined();
      expect(owners['kubectl-patch']).toMatchObject({
        operation: 'Update',
        fieldsV1: { 'f:spec': { 'f:http': {} } },
      });

      const r = await helm(
        'upgrade',
        'drift',
        GATEWAY,
        '--set',
        'routes[0].service=a',
        '--set',
        'routes[0].weight=100',
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(
        'Apply failed with 1 conflict: conflict with "kubectl-patch" using networking.istio.io/v1: .spec.http',
      );
      const conflictReq = api.requests
        .filter((q) => q.method === 'PATCH' && q.path.endsWith('/virtualservices/drift-vs'))
        .pop()!;
      expect(conflictReq).toMatchObject({
        status: 409,
        fieldManager: 'helm',
        contentType: 'application/apply-patch+yaml',
      });
      expect(conflictReq.query).toContain('force=false');

      ok(
        await helm(
          'upgrade',
          'drift',
          GATEWAY,
          '--set',
          'routes[0].service=a',
          '--set',
          'routes[0].weight=100',
          '--force-conflicts',
        ),
      );
      vs = api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'drift-vs');
      expect(vs.spec.http[0].route).toEqual([
        { destination: { host: 'a', port: { number: 80 } }, weight: 100 },
      ]);
      expect(vs.metadata.managedFields.map((m: any) => m.manager)).toEqual(['helm']);
      expect(vs.metadata.managedFields[0].fieldsV1['f:spec']['f:http']).toEqual({});
      ok(await helm('uninstall', 'drift'));
    });
  } else {
    it('helm 3: an unchanged upgrade keeps patched weights; a change under spec.http overwrites them', async () => {
      ok(
        await helm(
          'install',
          'drift',
          GATEWAY,
          '--set',
          'routes[0].service=a',
          '--set',
          'routes[0].weight=100',
        ),
      );
      ok(
        await kubectl(
          'patch',
          'vs',
          'drift-vs',
          '--type=merge',
          '-p',
          JSON.stringify({
            spec: {
              http: [
                {
                  route: [
                    { destination: { host: 'a' }, weight: 50 },
                    { destination: { host: 'b' }, weight: 50 },
                  ],
                },
              ],
            },
          }),
        ),
      );
      api.clearRequests();
      ok(
        await helm(
          'upgrade',
          'drift',
          GATEWAY,
          '--set',
          'routes[0].service=a',
          '--set',
          'routes[0].weight=100',
        ),
      );
      // helm 3 patches old manifest -> new manifest only (here: just its release annotations), never spec
      for (const w of api.writes().filter((x) => x.path.includes('/virtualservices/')))
        expect(JSON.parse(w.body!).spec).toBeUndefined();
      expect(
        api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'drift-vs').spec.http[0].route,
      ).toHaveLength(2);
      ok(
        await helm(
          'upgrade',
          'drift',
          GATEWAY,
          '--set',
          'routes[0].service=c',
          '--set',
          'routes[0].weight=100',
        ),
      );
      const patchReq = api.writes().find((w) => w.path.endsWith('/virtualservices/drift-vs'))!;
      expect(patchReq).toMatchObject({
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        status: 200,
      });
      expect(
        api.getObject('networking.istio.io/v1', 'VirtualService', 'default', 'drift-vs').spec.http[0].route,
      ).toEqual([{ destination: { host: 'c', port: { number: 80 } }, weight: 100 }]);
      ok(await helm('uninstall', 'drift'));
    });
  }

  it('serves coordination.k8s.io/v1 Leases: create, get, guarded replace (409 when stale), delete', async () => {
    const ns = 'leases';
    ok(await kubectl('create', 'namespace', ns));
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'helm-canary-web', namespace: ns },
      spec: {
        holderIdentity: 'run-a',
        leaseDurationSeconds: 30,
        acquireTime: '2026-03-01T12:00:00.000000Z',
        renewTime: '2026-03-01T12:00:00.000000Z',
        leaseTransitions: 0,
      },
    };
    api.clearRequests();
    const created = JSON.parse(
      ok(
        await run('kubectl', ['create', '-f', '-', '-o', 'json', '--field-manager=helm-canary'], {
          env,
          input: JSON.stringify(lease),
        }),
      ).stdout,
    );
    expect(created.spec).toEqual(lease.spec);
    const again = await run('kubectl', ['create', '-f', '-'], { env, input: JSON.stringify(lease) });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(
      /\(AlreadyExists\).*leases\.coordination\.k8s\.io "helm-canary-web" already exists/,
    );
    // discovery: the plural, the singular and the fully qualified name all resolve
    for (const r of ['leases', 'lease', 'leases.coordination.k8s.io', 'leases.v1.coordination.k8s.io'])
      expect(ok(await kubectl('get', r, 'helm-canary-web', '-n', ns, '-o', 'name')).stdout.trim()).toBe(
        'lease.coordination.k8s.io/helm-canary-web',
      );
    const got = JSON.parse(
      ok(await kubectl('get', 'lease', 'helm-canary-web', '-n', ns, '-o', 'json')).stdout,
    );
    expect(got.metadata.resourceVersion).toBe(created.metadata.resourceVersion);

    const renewed = { ...got, spec: { ...got.spec, renewTime: '2026-03-01T12:00:10.000000Z' } };
    const put = JSON.parse(
      ok(await run('kubectl', ['replace', '-f', '-', '-o', 'json'], { env, input: JSON.stringify(renewed) }))
        .stdout,
    );
    expect(put.spec.renewTime).toBe('2026-03-01T12:00:10.000000Z');
    expect(put.metadata.resourceVersion).not.toBe(got.metadata.resourceVersion);
    // the same write again carries the old resourceVersion: stale
    const stale = await run('kubectl', ['replace', '-f', '-'], {
      env,
      input: JSON.stringify({ ...renewed, spec: { ...renewed.spec, holderIdentity: 'run-b' } }),
    });
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain(
      'Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on leases.coordination.k8s.io "helm-canary-web": the object has been modified; please apply your changes to the latest version and try again',
    );
    expect(api.getObject('coordination.k8s.io/v1', 'Lease', ns, 'helm-canary-web').spec.holderIdentity).toBe(
      'run-a',
    );
    ok(await kubectl('delete', 'lease', 'helm-canary-web', '-n', ns));
    expect(api.getObject('coordination.k8s.io/v1', 'Lease', ns, 'helm-canary-web')).toBeUndefined();

    const leaseWrites = api.writes().filter((r) => r.path.includes('/leases'));
    expect(leaseWrites.map((r) => `${r.method} ${r.status}`)).toEqual([
      'POST 201',
      'POST 409',
      'PUT 200',
      'PUT 409',
      'DELETE 200',
    ]);
    // kubectl sends these bodies as JSON (no protobuf decoder needed for Lease)
    for (const w of leaseWrites.filter((r) => r.method !== 'DELETE'))
      expect(w.contentType).toBe('application/json');
    expect(leaseWrites[0].path).toBe(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`);
    expect(leaseWrites[0].fieldManager).toBe('helm-canary');
  });

  it('registers the resource of an applied CustomResourceDefinition', async () => {
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: canaries.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: canaries, singular: canary, kind: Canary, shortNames: [cnr]}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`;
    ok(await kubectlApplyFile(crd));
    ok(await kubectl('wait', '--for=condition=Established', 'crd/canaries.example.com', '--timeout=10s'));
    ok(
      await kubectlApplyFile(
        'apiVersion: example.com/v1\nkind: Canary\nmetadata: {name: first}\nspec: {step: 1}\n',
      ),
    );
    expect(ok(await kubectl('get', 'cnr', '-o', 'name')).stdout.trim()).toBe('canary.example.com/first');
    expect(api.getObject('example.com/v1', 'Canary', 'default', 'first').spec).toEqual({ step: 1 });
  });

  it('injects faults and delays, and logs requests', async () => {
    api.clearRequests();
    api.injectFault({
      method: 'GET',
      path: /\/configmaps$/,
      status: 503,
      message: 'injected outage',
      count: 1,
    });
    const failed = await kubectl('get', 'configmaps', '--request-timeout=5s');
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain('injected outage');
    expect(
      api.requests.some(
        (r) => r.method === 'GET' && r.path === '/api/v1/namespaces/default/configmaps' && r.status === 503,
      ),
    ).toBe(true);
    ok(await kubectl('get', 'configmaps'));
    api.injectFault({ path: '/api/v1/namespaces/default/configmaps', delayMs: 400 });
    const t0 = Date.now();
    ok(await kubectl('get', 'configmaps'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(api.writes()).toEqual([]);
  });
});
