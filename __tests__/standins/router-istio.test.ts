/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects */
// IstioRouter + the kube helpers with the REAL kubectl and helm (HELM_CANARY_TOOLS=helm4|helm3)
// against the Kubernetes API stand-in.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { KubeApiServer } from '../../standins/kube-api/index.js';
import { createHelm, servicesInManifest, type IHelm } from '../../src/kube/helm-helper.js';
import {
  createKubectl,
  KubeConflictError,
  type IKubectl,
  type JsonPatchOp,
} from '../../src/kube/kubectl-helper.js';
import { IstioRouter, VIRTUAL_SERVICE_RESOURCE } from '../../src/router/istio/istio-router.js';
import { chartsDir, run, toolsDir, toolsPair } from './tools.js';

const NS = 'shop';
const VS = 'gw-vs';
const pair = toolsPair();
let server: KubeApiServer;
let kubectl: IKubectl;
let helm: IHelm;
let kc: string;

const k = (...args: string[]) => run('kubectl', ['--kubeconfig', kc, ...args]);
const h = (...args: string[]) => run('helm', ['--kubeconfig', kc, ...args]);

beforeAll(async () => {
  server = await KubeApiServer.start({ deploymentReadyDelayMs: 100 });
  kc = server.kubeconfigPath;
  process.env.PATH = `${toolsDir()}:${process.env.PATH}`; // createKubectl/createHelm use io.which
  expect((await k('create', 'namespace', NS)).code).toBe(0);
  const gw = await h('install', 'gw', join(chartsDir, 'sample-gateway'), '-n', NS);
  expect(gw.stderr).toBe('');
  expect(gw.code).toBe(0);
  kubectl = await createKubectl({ kubeconfigPath: kc, namespace: NS });
  helm = await createHelm({ kubeconfigPath: kc, namespace: NS });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe(`kube helpers with real ${pair} binaries`, () => {
  it('detects the versions', () => {
    expect(helm.major).toBe(pair === 'helm4' ? 4 : 3);
    expect(kubectl.version).toBe(pair === 'helm4' ? 'v1.35.2' : 'v1.31.9');
  });

  it('get: object with managedFields; undefined when missing', async () => {
    const vs = await kubectl.get(VIRTUAL_SERVICE_RESOURCE, VS);
    expect(vs.metadata.name).toBe(VS);
    expect(Array.isArray(vs.metadata.managedFields)).toBe(true);
    expect(await kubectl.get(VIRTUAL_SERVICE_RESOURCE, 'nope')).toBeUndefined();
    expect(await kubectl.namespaceLabels(NS)).toMatchObject({ 'kubernetes.io/metadata.name': NS });
    expect(await kubectl.namespaceLabels('nope')).toBeUndefined();
    expect((await kubectl.list(VIRTUAL_SERVICE_RESOURCE)).map((x) => x.metadata.name)).toEqual([VS]);
  });

  it('patchJson: a stale resourceVersion test is a KubeConflictError', async () => {
    const ops: JsonPatchOp[] = [
      { op: 'test', path: '/metadata/resourceVersion', value: '1' },
      { op: 'replace', path: '/spec/hosts', value: ['x.example.com'] },
    ];
    const err = await kubectl.patchJson(VIRTUAL_SERVICE_RESOURCE, VS, ops).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeConflictError);
  });

  it('helm install (wait + rollback-on-failure flags of the major), status, list, manifest, uninstall', async () => {
    const { manifest } = await helm.install({
      release: 'foolish-penguin',
      chart: join(chartsDir, 'sample'),
      namespace: NS,
      valuesFiles: [],
      set: ['podAnnotations.secret=hunter2'],
      extraArgs: [],
      timeoutMs: 60_000,
      labels: { 'helm-canary.io/base': 'penguin' },
    });
    expect(servicesInManifest(manifest).map((s) => s.name)).toEqual(['foolish-penguin-sample']);
    expect((await helm.getManifest('foolish-penguin', NS)).trim()).toBe(manifest.trim());
    expect(await helm.status('foolish-penguin', NS)).toMatchObject({
      name: 'foolish-penguin',
      namespace: NS,
      revision: 1,
      status: 'deployed',
    });
    expect((await helm.list(NS)).map((r) => r.name).sort()).toEqual(['foolish-penguin', 'gw']);
    const rendered = await helm.template({
      release: 'x',
      chart: join(chartsDir, 'sample'),
      namespace: NS,
      valuesFiles: [],
      set: [],
      extraArgs: [],
      timeoutMs: 1000,
    });
    expect(servicesInManifest(rendered).map((s) => s.name)).toEqual(['x-sample']);
    await helm.uninstall('foolish-penguin', NS, 60_000);
    await helm.uninstall('foolish-penguin', NS, 60_000); // already gone: tolerated
    expect(await helm.status('foolish-penguin', NS)).toBeUndefined();
  }, 120_000);

  it('helm install failure: error carries stderr, redacted', async () => {
    const err = (await helm
      .install({
        release: 'broken',
        chart: join(chartsDir, 'does-not-exist'),
        namespace: NS,
        valuesFiles: [],
        set: ['password=hunter2-secret'],
        extraArgs: [],
        timeoutMs: 10_000,
      })
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/helm install broken failed/);
    expect(err.message).not.toContain('hunter2-secret');
  });
});

describe(`IstioRouter with real ${pair} kubectl`, () => {
  const stable = { host: 'foolish-penguin-sample', port: 80 };
  const canary = { host: 'clever-otter-sample', port: 80 };

  it('owners(): the gateway chart release, written the way this helm major writes', async () => {
    const r = new IstioRouter(kubectl, VS, NS, { helmMajor: helm.major });
    const f = (await r.inspect()).owners;
    expect(f).toHaveLength(1);
    expect(f[0].manager).toBe('helm');
    expect(f[0].who).toBe(`Helm release "gw" (namespace "${NS}")`);
    if (helm.major === 4) expect(f[0].detail).toMatch(/server-side apply/);
    else expect(f[0].detail).toMatch(/client-side/);
  });

  it('getRoutes / setRoutes / setState, as field manager helm-canary', async () => {
    const r = new IstioRouter(kubectl, VS, NS, { stableHostOf: () => stable.host });
    const before = await r.getRoutes();
    expect(before).toMatchObject({ route: '#0', destinations: [{ ...stable, weight: 100 }] });
    server.clearRequests();
    const snap = await r.setRoutes([
      { ...stable, weight: 90 },
      { ...canary, weight: 10 },
    ]);
    expect(snap.destinations).toEqual([
      { ...stable, weight: 90 },
      { ...canary, weight: 10 },
    ]);
    const patches = server.requests.filter((q) => q.method === 'PATCH');
    expect(patches).toHaveLength(1);
    expect(patches[0].fieldManager).toBe('helm-canary');
    const vs = await kubectl.get(VIRTUAL_SERVICE_RESOURCE, VS);
    expect(vs.spec.hosts).toEqual(['127.0.0.1.xip.io']); // untouched
    expect(vs.spec.gateways).toEqual(['gw-gateway']);
    const owner = vs.metadata.managedFields.find((m: any) => m.fieldsV1?.['f:spec']?.['f:http']);
    expect(owner.manager).toBe('helm-canary');

    await r.setState({ status: 'progressing', 'helm-canary.io/canary-weight': '10' });
    expect((await r.getRoutes()).state).toMatchObject({
      'helm-canary.io/status': 'progressing',
      'helm-canary.io/canary-weight': '10',
    });
    await r.setState({ status: null });
    expect((await r.getRoutes()).state['helm-canary.io/status']).toBeUndefined();
  });

  it('retries after a real concurrent change (422 from the guarded patch)', async () => {
    let first = true;
    const racing: IKubectl = Object.create(kubectl);
    racing.patchJson = async (res: string, name: string, ops: JsonPatchOp[], ns?: string) => {
      if (first) {
        first = false;
        expect(
          (await k('annotate', '-n', NS, VIRTUAL_SERVICE_RESOURCE, VS, 'someone=else', '--overwrite')).code,
        ).toBe(0);
      }
      return kubectl.patchJson(res, name, ops, ns);
    };
    const infos: string[] = [];
    const r = new IstioRouter(racing, VS, NS, {
      stableHostOf: () => stable.host,
      logger: { info: (s) => infos.push(s), warning: (s) => infos.push(s) },
    });
    const snap = await r.setRoutes([
      { ...stable, weight: 75 },
      { ...canary, weight: 25 },
    ]);
    expect(snap.destinations.map((d) => d.weight)).toEqual([75, 25]);
    expect((await kubectl.get(VIRTUAL_SERVICE_RESOURCE, VS)).metadata.annotations.someone).toBe('else');
    expect(infos.join('\n')).toMatch(/attempt 1\/5/);
  });

  it('what the ownership finding predicts happens on the next `helm upgrade` of the gateway chart', async () => {
    const up = await h('upgrade', 'gw', join(chartsDir, 'sample-gateway'), '-n', NS);
    const vs = await kubectl.get(VIRTUAL_SERVICE_RESOURCE, VS);
    const weights = vs.spec.http[0].route.map((x: any) => x.weight);
    if (helm.major === 4) {
      // server-side apply: conflict with our field manager, weights untouched
      expect(up.code).not.toBe(0);
      expect(up.stderr).toMatch(/conflict/i);
      expect(up.stderr).toContain('helm-canary');
      expect(weights).toEqual([75, 25]);
    } else {
      // client-side, chart unchanged: the weights survive
      expect(up.code).toBe(0);
      expect(weights).toEqual([75, 25]);
    }
  }, 60_000);
});
