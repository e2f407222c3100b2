// Defaulting and status initialisation the real apiserver (and its fast controllers) perform.
import type { ResourceDef } from './resources.js';
import { isObj, nowTimestamp, type Obj } from './util.js';

let nextIp = 10;

function allocateClusterIp(): string {
  const n = nextIp++;
  return `10.96.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
}

export function applyDefaults(def: ResourceDef, obj: Obj, old: Obj | undefined): void {
  const core = def.group === '';
  const spec = (): Obj => (isObj(obj.spec) ? obj.spec : (obj.spec = {}));
  if (core && def.resource === 'namespaces') {
    obj.metadata.labels = {
      ...(obj.metadata.labels ?? {}),
      'kubernetes.io/metadata.name': obj.metadata.name,
    };
    spec().finalizers ??= ['kubernetes'];
    obj.status = old?.status ?? { phase: 'Active' };
  } else if (core && def.resource === 'secrets') {
    obj.type ??= 'Opaque';
    if (isObj(obj.stringData)) {
      obj.data = { ...(obj.data ?? {}) };
      for (const [k, v] of Object.entries(obj.stringData))
        obj.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
      delete obj.stringData;
    }
  } else if (core && def.resource === 'services') {
    const s = spec();
    s.type ??= 'ClusterIP';
    s.sessionAffinity ??= 'None';
    if (s.type !== 'ExternalName') {
      if (!s.clusterIP) s.clusterIP = old?.spec?.clusterIP ?? allocateClusterIp();
      s.clusterIPs ??= old?.spec?.clusterIPs ?? [s.clusterIP];
      s.ipFamilies ??= ['IPv4'];
      s.ipFamilyPolicy ??= 'SingleStack';
      s.internalTrafficPolicy ??= 'Cluster';
    }
    if (Array.isArray(s.ports))
      for (const p of s.ports) {
        if (!isObj(p)) continue;
        p.protocol ??= 'TCP';
        if (s.type !== 'ExternalName') p.targetPort ??= p.port;
      }
    obj.status ??= { loadBalancer: {} };
    if (s.type === 'LoadBalancer' && !obj.status.loadBalancer?.ingress)
      obj.status.loadBalancer = { ingress: [{ ip: '127.0.0.1', ipMode: 'VIP' }] };
  } else if (core && def.resource === 'persistentvolumeclaims') {
    obj.status = {
      phase: 'Bound',
      accessModes: obj.spec?.accessModes ?? ['ReadWriteOnce'],
      capacity: obj.spec?.resources?.requests ?? {},
    };
  } else if (core && def.resource === 'pods') {
    obj.status ??= {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: nowTimestamp() }],
      podIP: '10.244.0.10',
    };
  } else if (def.group === 'apps' && ['deployments', 'statefulsets', 'daemonsets'].includes(def.resource)) {
    const s = spec();
    if (def.resource !== 'daemonsets') s.replicas ??= 1;
    s.revisionHistoryLimit ??= 10;
    if (def.resource === 'deployments') {
      s.progressDeadlineSeconds ??= 600;
      s.strategy ??= { type: 'RollingUpdate' };
      if (s.strategy.type === 'RollingUpdate')
        s.strategy.rollingUpdate = {
          maxUnavailable: '25%',
          maxSurge: '25%',
          ...(s.strategy.rollingUpdate ?? {}),
        };
    } else if (def.resource === 'statefulsets') {
      s.podManagementPolicy ??= 'OrderedReady';
      s.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
    } else {
      s.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
    }
  } else if (def.group === 'batch' && def.resource === 'jobs') {
    const s = spec();
    s.completions ??= 1;
    s.parallelism ??= 1;
    s.backoffLimit ??= 6;
  } else if (def.group === 'apiextensions.k8s.io' && def.resource === 'customresourcedefinitions') {
    const now = nowTimestamp();
    obj.status = {
      acceptedNames: obj.spec?.names ?? {},
      conditions: [
        {
          type: 'NamesAccepted',
          status: 'True',
          reason: 'NoConflicts',
          message: 'no conflicts found',
          lastTransitionTime: now,
        },
        {
          type: 'Established',
          status: 'True',
          reason: 'InitialNamesAccepted',
          message: 'the initial names have been accepted',
          lastTransitionTime: now,
        },
      ],
      storedVersions: (obj.spec?.versions ?? []).filter((v: Obj) => v?.storage).map((v: Obj) => v.name),
    };
  }
}
