/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON */
// The resource registry: which group/version/resources the stand-in serves, discovery documents
// and the minimal OpenAPI documents clients need.

export interface ResourceDef {
  group: string;
  versions: string[]; // first = preferred / storage version
  resource: string; // plural
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  builtin: boolean; // built-in kind (strategic merge patch, keyed lists) vs custom resource
  subresources: string[];
  categories?: string[];
  /** Verbs discovery lists (default VERBS). */
  verbs?: string[];
}

export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function d(
  group: string,
  versions: string[],
  resource: string,
  kind: string,
  namespaced: boolean,
  shortNames: string[] = [],
  subresources: string[] = [],
  builtin = true,
): ResourceDef {
  return {
    group,
    versions,
    resource,
    singular: kind.toLowerCase(),
    kind,
    namespaced,
    shortNames,
    builtin,
    subresources,
  };
}

export function builtinDefs(): ResourceDef[] {
  const istio = ['v1', 'v1beta1', 'v1alpha3'];
  return [
    d('', ['v1'], 'namespaces', 'Namespace', false, ['ns'], ['status', 'finalize']),
    d('', ['v1'], 'secrets', 'Secret', true),
    d('', ['v1'], 'configmaps', 'ConfigMap', true, ['cm']),
    d('', ['v1'], 'services', 'Service', true, ['svc'], ['status']),
    d('', ['v1'], 'serviceaccounts', 'ServiceAccount', true, ['sa']),
    d('', ['v1'], 'pods', 'Pod', true, ['po'], ['status', 'log']),
    d('', ['v1'], 'endpoints', 'Endpoints', true, ['ep']),
    d('', ['v1'], 'events', 'Event', true, ['ev']),
    d('', ['v1'], 'persistentvolumeclaims', 'PersistentVolumeClaim', true, ['pvc'], ['status']),
    d('', ['v1'], 'persistentvolumes', 'PersistentVolume', false, ['pv'], ['status']),
    d('', ['v1'], 'nodes', 'Node', false, ['no'], ['status']),
    d('', ['v1'], 'resourcequotas', 'ResourceQuota', true, ['quota'], ['status']),
    d('', ['v1'], 'limitranges', 'LimitRange', true, ['limits']),
    d('apps', ['v1'], 'deployments', 'Deployment', true, ['deploy'], ['status', 'scale']),
    d('apps', ['v1'], 'replicasets', 'ReplicaSet', true, ['rs'], ['status', 'scale']),
    d('apps', ['v1'], 'statefulsets', 'StatefulSet', true, ['sts'], ['status', 'scale']),
    d('apps', ['v1'], 'daemonsets', 'DaemonSet', true, ['ds'], ['status']),
    d('apps', ['v1'], 'controllerrevisions', 'ControllerRevision', true),
    d('batch', ['v1'], 'jobs', 'Job', true, [], ['status']),
    d('batch', ['v1'], 'cronjobs', 'CronJob', true, ['cj'], ['status']),
    d(
      'autoscaling',
      ['v2', 'v1'],
      'horizontalpodautoscalers',
      'HorizontalPodAutoscaler',
      true,
      ['hpa'],
      ['status'],
    ),
    d('networking.k8s.io', ['v1'], 'ingresses', 'Ingress', true, ['ing'], ['status']),
    d('networking.k8s.io', ['v1'], 'ingressclasses', 'IngressClass', false),
    d('networking.k8s.io', ['v1'], 'networkpolicies', 'NetworkPolicy', true, ['netpol']),
    d('policy', ['v1'], 'poddisruptionbudgets', 'PodDisruptionBudget', true, ['pdb'], ['status']),
    d('rbac.authorization.k8s.io', ['v1'], 'roles', 'Role', true),
    d('rbac.authorization.k8s.io', ['v1'], 'rolebindings', 'RoleBinding', true),
    d('rbac.authorization.k8s.io', ['v1'], 'clusterroles', 'ClusterRole', false),
    d('rbac.authorization.k8s.io', ['v1'], 'clusterrolebindings', 'ClusterRoleBinding', false),
    d('storage.k8s.io', ['v1'], 'storageclasses', 'StorageClass', false, ['sc']),
    {
      ...d('authorization.k8s.io', ['v1'], 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', false),
      verbs: ['create'],
    },
    {
      ...d('authorization.k8s.io', ['v1'], 'selfsubjectrulesreviews', 'SelfSubjectRulesReview', false),
      verbs: ['create'],
    },
    d('coordination.k8s.io', ['v1'], 'leases', 'Lease', true),
    d(
      'apiextensions.k8s.io',
      ['v1'],
      'customresourcedefinitions',
      'CustomResourceDefinition',
      false,
      ['crd', 'crds'],
      ['status'],
    ),
    d('networking.istio.io', istio, 'virtualservices', 'VirtualService', true, ['vs'], ['status'], false),
    d('networking.istio.io', istio, 'destinationrules', 'DestinationRule', true, ['dr'], ['status'], false),
    d('networking.istio.io', istio, 'gateways', 'Gateway', true, ['gw'], ['status'], false),
    d('networking.istio.io', istio, 'serviceentries', 'ServiceEntry', true, ['se'], ['status'], false),
    d('gateway.networking.k8s.io', ['v1'], 'gateways', 'Gateway', true, ['gtw'], ['status'], false),
    d('gateway.networking.k8s.io', ['v1', 'v1beta1'], 'httproutes', 'HTTPRoute', true, [], ['status'], false),
    d(
      'gateway.networking.k8s.io',
      ['v1'],
      'gatewayclasses',
      'GatewayClass',
      false,
      ['gc'],
      ['status'],
      false,
    ),
  ].map((r) => {
    if (r.group === 'networking.istio.io') r.categories = ['istio-io', 'networking-istio-io'];
    return r;
  });
}

export const gvString = (group: string, version: string): string => (group ? `${group}/${version}` : version);

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  return i < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

export class Registry {
  defs: ResourceDef[] = builtinDefs();

  find(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.defs.find(
      (r) => r.group === group && r.resource === resource && r.versions.includes(version),
    );
  }

  findByKind(group: string, kind: string): ResourceDef | undefined {
    return this.defs.find((r) => r.group === group && r.kind === kind);
  }

  servesGroupVersion(group: string, version: string): boolean {
    return this.defs.some((r) => r.group === group && r.versions.includes(version));
  }

  /** Groups in registration order, each with its versions (preferred first). */
  groups(): { name: string; versions: string[] }[] {
    const out: { name: string; versions: string[] }[] = [];
    for (const r of this.defs) {
      if (r.group === '') continue;
      let g = out.find((x) => x.name === r.group);
      if (!g) out.push((g = { name: r.group, versions: [] }));
      for (const v of r.versions) if (!g.versions.includes(v)) g.versions.push(v);
    }
    return out;
  }

  /** Registers (or updates) the resource a CustomResourceDefinition declares. */
  registerCrd(crd: any): void {
    const spec = crd?.spec ?? {};
    const names = spec.names ?? {};
    if (!spec.group || !names.plural || !names.kind) return;
    const versions: string[] = (spec.versions ?? [])
      .filter((v: any) => v && v.served !== false)
      .sort((a: any, b: any) => Number(!!b.storage) - Number(!!a.storage))
      .map((v: any) => String(v.name));
    if (!versions.length) return;
    const def: ResourceDef = {
      group: spec.group,
      versions,
      resource: names.plural,
      singular: names.singular ?? String(names.kind).toLowerCase(),
      kind: names.kind,
      namespaced: spec.scope !== 'Cluster',
      shortNames: names.shortNames ?? [],
      builtin: false,
      subresources: ['status'],
      categories: names.categories,
    };
    const existing = this.defs.findIndex((r) => r.group === def.group && r.resource === def.resource);
    if (existing >= 0) {
      const old = this.defs[existing];
      for (const v of old.versions) if (!def.versions.includes(v)) def.versions.push(v);
      this.defs[existing] = def;
    } else this.defs.push(def);
  }

  apiVersions(serverAddress: string): unknown {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
    };
  }

  apiGroupList(): unknown {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: this.groups().map((g) => ({
        name: g.name,
        versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
      })),
    };
  }

  apiGroup(name: string): unknown | undefined {
    const g = this.groups().find((x) => x.name === name);
    if (!g) return undefined;
    return {
      kind: 'APIGroup',
      apiVersion: 'v1',
      name,
      versions: g.versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
      preferredVersion: { groupVersion: `${name}/${g.versions[0]}`, version: g.versions[0] },
    };
  }

  resourceList(group: string, version: string): unknown | undefined {
    if (!this.servesGroupVersion(group, version)) return undefined;
    const resources: unknown[] = [];
    for (const r of this.defs.filter((x) => x.group === group && x.versions.includes(version))) {
      const e: Record<string, unknown> = {
        name: r.resource,
        singularName: r.singular,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: r.verbs ?? VERBS,
      };
      if (r.shortNames.length) e.shortNames = r.shortNames;
      if (r.categories?.length) e.categories = r.categories;
      else if (
        r.builtin &&
        [
          'pods',
          'services',
          'deployments',
          'replicasets',
          'statefulsets',
          'daemonsets',
          'jobs',
          'cronjobs',
          'horizontalpodautoscalers',
          'replicationcontrollers',
        ].includes(r.resource)
      )
        e.categories = ['all'];
      resources.push(e);
      for (const sub of r.subresources) {
        resources.push({
          name: `${r.resource}/${sub}`,
          singularName: '',
          namespaced: r.namespaced,
          kind: sub === 'scale' ? 'Scale' : r.kind,
          ...(sub === 'scale' ? { group: 'autoscaling', version: 'v1' } : {}),
          verbs: sub === 'log' ? ['get'] : sub === 'finalize' ? ['update'] : ['get', 'patch', 'update'],
        });
      }
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gvString(group, version), resources };
  }

  /** `/openapi/v3` root: one entry per served group-version. */
  openapiV3Root(): unknown {
    const paths: Record<string, { serverRelativeURL: string }> = {};
    const gvs: [string, string][] = [['', 'v1']];
    for (const g of this.groups()) for (const v of g.versions) gvs.push([g.name, v]);
    for (const [g, v] of gvs) {
      const key = g ? `apis/${g}/${v}` : 'api/v1';
      paths[key] = {
        serverRelativeURL: `/openapi/v3/${key}?hash=${hashOf(JSON.stringify(this.resourceList(g, v)))}`,
      };
    }
    return { paths };
  }

  /**
   * A per-group-version OpenAPI v3 document without schemas: each resource path declares PATCH
   * with the `fieldValidation` query parameter and its x-kubernetes-group-version-kind, which
   * makes kubectl and helm leave validation to the server. It deliberately does not offer
   * strategic-merge-patch in the request body, so kubectl computes strategic patches from its
   * compiled-in types (built-ins) and JSON merge patches for custom resources.
   */
  openapiV3Doc(group: string, version: string): unknown | undefined {
    if (!this.servesGroupVersion(group, version)) return undefined;
    const paths: Record<string, unknown> = {};
    const prefix = group ? `/apis/${group}/${version}` : '/api/v1';
    const param = (name: string, inn: string) => ({
      name,
      in: inn,
      schema: { type: 'string', uniqueItems: true },
    });
    for (const r of this.defs.filter((x) => x.group === group && x.versions.includes(version))) {
      const gvk = { group, version, kind: r.kind };
      const body = {
        content: Object.fromEntries(
          ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'].map(
            (t) => [t, { schema: { type: 'object' } }],
          ),
        ),
        required: true,
      };
      const ok = { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } };
      const base = r.namespaced
        ? `${prefix}/namespaces/{namespace}/${r.resource}`
        : `${prefix}/${r.resource}`;
      const item = {
        get: {
          operationId: `read${r.kind}`,
          'x-kubernetes-action': 'get',
          'x-kubernetes-group-version-kind': gvk,
          responses: { '200': ok },
        },
        put: {
          operationId: `replace${r.kind}`,
          'x-kubernetes-action': 'put',
          'x-kubernetes-group-version-kind': gvk,
          parameters: [
            param('dryRun', 'query'),
            param('fieldManager', 'query'),
            param('fieldValidation', 'query'),
          ],
          responses: { '200': ok },
        },
        delete: {
          operationId: `delete${r.kind}`,
          'x-kubernetes-action': 'delete',
          'x-kubernetes-group-version-kind': gvk,
          responses: { '200': ok },
        },
        patch: {
          operationId: `patch${r.kind}`,
          'x-kubernetes-action': 'patch',
          'x-kubernetes-group-version-kind': gvk,
          parameters: [
            param('dryRun', 'query'),
            param('fieldManager', 'query'),
            param('fieldValidation', 'query'),
            { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
          ],
          requestBody: body,
          responses: { '200': ok },
        },
        parameters: [
          { name: 'name', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } },
          ...(r.namespaced
            ? [
                {
                  name: 'namespace',
                  in: 'path',
                  required: true,
                  schema: { type: 'string', uniqueItems: true },
                },
              ]
            : []),
        ],
      };
      paths[`${base}/{name}`] = item;
      paths[base] = {
        get: {
          operationId: `list${r.kind}`,
          'x-kubernetes-action': 'list',
          'x-kubernetes-group-version-kind': gvk,
          responses: { '200': ok },
        },
        post: {
          operationId: `create${r.kind}`,
          'x-kubernetes-action': 'post',
          'x-kubernetes-group-version-kind': gvk,
          parameters: [
            param('dryRun', 'query'),
            param('fieldManager', 'query'),
            param('fieldValidation', 'query'),
          ],
          responses: { '201': ok },
        },
      };
    }
    return {
      openapi: '3.0.0',
      info: { title: 'Kubernetes (helm-canary stand-in)', version: 'v1.33.0' },
      paths,
      components: { schemas: {} },
    };
  }
}

export function hashOf(s: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  return (h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0')).toUpperCase();
}
