/* eslint-disable @typescript-eslint/no-explicit-any -- fixtures are loose Kubernetes objects */
import { describe, it, expect } from '@jest/globals';
import { findOwners as findOwnersOf, type OwnedObject } from '../../src/router/ownership.js';
import { VIRTUAL_SERVICE_PROFILE } from '../../src/router/istio/istio-router.js';

const findOwners = (vs: OwnedObject, major?: 3 | 4) => findOwnersOf(vs, VIRTUAL_SERVICE_PROFILE, major);

const HTTP = { 'f:spec': { 'f:http': {} } };
const base = (meta: any = {}): any => ({
  metadata: { name: 'web', namespace: 'shop', ...meta },
  spec: { http: [{ route: [{ destination: { host: 'a' } }] }] },
});
const helmAnn = { 'meta.helm.sh/release-name': 'gateway', 'meta.helm.sh/release-namespace': 'infra' };
const helmLabels = { 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'gateway' };

describe('findOwners', () => {
  it('nothing to report for an object nobody else manages', () => {
    expect(findOwners(base())).toEqual([]);
    expect(
      findOwners(base({ managedFields: [{ manager: 'helm-canary', operation: 'Update', fieldsV1: HTTP }] })),
    ).toEqual([]);
  });

  it('Helm 4 server-side apply: upgrade will fail with a conflict; remedies', () => {
    const f = findOwners(
      base({
        annotations: helmAnn,
        labels: helmLabels,
        managedFields: [{ manager: 'helm', operation: 'Apply', fieldsV1: HTTP }],
      }),
      4,
    );
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      manager: 'helm',
      who: 'Helm release "gateway" (namespace "infra")',
      severity: 'warning',
    });
    expect(f[0].detail).toMatch(/server-side apply/);
    expect(f[0].consequence).toContain(
      'The next `helm upgrade` (or `helm rollback`) of release "gateway" will fail with a field conflict on .spec.http once helm-canary changes the weights (Helm 4 server-side apply)',
    );
    expect(f[0].remedy).toMatch(/Exclude the route weights from that chart/);
    expect(f[0].remedy).toContain('helm upgrade gateway -n infra --server-side=false');
    expect(f[0].remedy).toMatch(/--force-conflicts, knowing it resets the weights/);
  });

  it('Helm 4 SSA after an earlier patch: says the conflict is pending now', () => {
    const f = findOwners(
      base({
        annotations: helmAnn,
        managedFields: [
          { manager: 'helm', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:hosts': {} } } },
          { manager: 'helm-canary', operation: 'Update', fieldsV1: HTTP },
        ],
      }),
    );
    expect(f).toHaveLength(1);
    expect(f[0].detail).toMatch(/currently owned by field manager "helm-canary"/);
    expect(f[0].consequence).toMatch(/already been changed outside Helm/);
  });

  it('Helm client-side (helm 3): resets on spec.http changes or --force; unchanged upgrades keep them', () => {
    const obj = base({
      annotations: helmAnn,
      managedFields: [{ manager: 'helm', operation: 'Update', fieldsV1: HTTP }],
    });
    const [f3] = findOwners(obj, 3);
    expect(f3.detail).toMatch(/client-side/);
    expect(f3.consequence).toMatch(
      /changes anything under spec.http \(or uses --force.*resets the weights to the chart's values; an upgrade that leaves spec.http unchanged keeps them/,
    );
    expect(f3.consequence).not.toMatch(/server-side=auto/);
    const [f4] = findOwners(obj, 4);
    expect(f4.consequence).toMatch(/--server-side=auto.*--server-side=true/);
  });

  it('Helm without visible managedFields: warns about both modes', () => {
    const [f] = findOwners(base({ labels: { 'app.kubernetes.io/managed-by': 'Helm' } }));
    expect(f).toMatchObject({ manager: 'helm', who: 'a Helm release (name unknown)', severity: 'warning' });
    expect(f.consequence).toMatch(/Helm 4 server-side apply.*Helm 3/);
  });

  it('Argo CD by tracking-id annotation', () => {
    const [f] = findOwners(
      base({
        annotations: {
          'argocd.argoproj.io/tracking-id': 'shop-gw:networking.istio.io/VirtualService:shop/web',
        },
      }),
    );
    expect(f).toMatchObject({ manager: 'argocd', who: 'Argo CD Application "shop-gw"', severity: 'warning' });
    expect(f.consequence).toMatch(/selfHeal, Argo CD reverts the route weights/);
    expect(f.remedy).toContain('ignoreDifferences');
    expect(f.remedy).toContain('.spec.http[].route');
    expect(f.remedy).toContain('RespectIgnoreDifferences=true');
  });

  it('Argo CD by instance label, or by its field manager with app.kubernetes.io/instance', () => {
    expect(findOwners(base({ labels: { 'argocd.argoproj.io/instance': 'app1' } }))[0].who).toBe(
      'Argo CD Application "app1"',
    );
    const f = findOwners(
      base({
        labels: { 'app.kubernetes.io/instance': 'app2' },
        managedFields: [{ manager: 'argocd-controller', operation: 'Update', fieldsV1: HTTP }],
      }),
    );
    expect(f).toHaveLength(1); // the argocd manager is not reported again as "other"
    expect(f[0].who).toBe('Argo CD Application "app2"');
  });

  it('app.kubernetes.io/instance alone is not Argo CD (Helm charts set it too)', () => {
    expect(findOwners(base({ labels: { 'app.kubernetes.io/instance': 'x' } }))).toEqual([]);
  });

  it('Argo CD deploying a Helm chart: both findings', () => {
    const f = findOwners(
      base({
        annotations: {
          ...helmAnn,
          'argocd.argoproj.io/tracking-id': 'gw:networking.istio.io/VirtualService:shop/web',
        },
        labels: helmLabels,
      }),
    );
    expect(f.map((x) => x.manager).sort()).toEqual(['argocd', 'helm']);
  });

  it('Flux Kustomization', () => {
    const [f] = findOwners(
      base({
        labels: {
          'kustomize.toolkit.fluxcd.io/name': 'apps',
          'kustomize.toolkit.fluxcd.io/namespace': 'flux-system',
        },
      }),
    );
    expect(f).toMatchObject({
      manager: 'flux',
      who: 'Flux Kustomization "apps" (namespace "flux-system")',
      severity: 'warning',
    });
    expect(f.consequence).toMatch(/resets the route weights/);
    expect(f.remedy).toContain('kustomize.toolkit.fluxcd.io/ssa: IfNotPresent');
    expect(f.remedy).toContain('flux suspend kustomization apps -n flux-system');
  });

  it('Flux HelmRelease replaces the plain Helm finding', () => {
    const f = findOwners(
      base({
        annotations: helmAnn,
        labels: {
          ...helmLabels,
          'helm.toolkit.fluxcd.io/name': 'gateway',
          'helm.toolkit.fluxcd.io/namespace': 'infra',
        },
        managedFields: [{ manager: 'helm-controller', operation: 'Update', fieldsV1: HTTP }],
      }),
    );
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ manager: 'flux', who: 'Flux HelmRelease "gateway" (namespace "infra")' });
    expect(f[0].remedy).toContain('driftDetection.ignore');
  });

  it('other managers owning spec.http: info, with kind-specific texts; ours and non-http owners are ignored', () => {
    const f = findOwners(
      base({
        managedFields: [
          { manager: 'kubectl-patch', operation: 'Update', fieldsV1: HTTP },
          { manager: 'kubectl-client-side-apply', operation: 'Update', fieldsV1: HTTP },
          { manager: 'my-operator', operation: 'Apply', fieldsV1: HTTP },
          { manager: 'kubectl-patch', operation: 'Update', fieldsV1: HTTP },
          { manager: 'other-thing', operation: 'Update', fieldsV1: { 'f:metadata': {} } },
          { manager: 'helm-canary', operation: 'Update', fieldsV1: HTTP },
        ],
      }),
    );
    expect(f.map((x) => [x.who, x.severity])).toEqual([
      ['field manager "kubectl-patch"', 'info'],
      ['field manager "kubectl-client-side-apply"', 'info'],
      ['field manager "my-operator"', 'info'],
    ]);
    expect(f[0].detail).toMatch(/kubectl patch/);
    expect(f[1].consequence).toMatch(/kubectl apply/);
    expect(f[2].consequence).toMatch(/"my-operator" is a controller/);
  });

  it('another progressive-delivery controller is a warning', () => {
    const [f] = findOwners(
      base({ managedFields: [{ manager: 'flagger', operation: 'Update', fieldsV1: HTTP }] }),
    );
    expect(f).toMatchObject({ manager: 'other', severity: 'warning' });
    expect(f.consequence).toMatch(/overwrite each other/);
  });

  it('every finding names the object and says what happens and what to do', () => {
    const all = findOwners(
      base({
        annotations: { ...helmAnn, 'argocd.argoproj.io/tracking-id': 'a:b/c:d/e' },
        labels: { 'kustomize.toolkit.fluxcd.io/name': 'k' },
        managedFields: [
          { manager: 'helm', operation: 'Apply', fieldsV1: HTTP },
          { manager: 'x', operation: 'Update', fieldsV1: HTTP },
        ],
      }),
      4,
    );
    expect(all.map((f) => f.manager)).toEqual(['flux', 'argocd', 'helm', 'other']);
    for (const f of all) {
      expect(f.detail).toContain('VirtualService "web"');
      // a consequence for the weights (or the other tool), and a remedy that is an action
      expect(f.consequence).toMatch(/weights|overwrite|conflict/);
      expect(f.remedy).toMatch(/^(In |Exclude|Check|Let|Leave|Do not|Move)/);
    }
  });
});
