/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON */
// A small controller: Deployments get a ReplicaSet (pod-template-hash, ownerReferences) and a
// ready status shortly after each spec change; StatefulSets, DaemonSets and Jobs get a finished
// status. Objects annotated `standin.helm-canary/never-ready: "true"` (on metadata or the pod
// template) never become ready.
import { randomUUID } from 'node:crypto';
import type { Registry, ResourceDef } from './resources.js';
import type { Store, StoredEvent } from './store.js';
import { clone, deepEqual, isObj, nowTimestamp, type Obj } from './util.js';

export const NEVER_READY = 'standin.helm-canary/never-ready';

function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** Like k8s's ComputeHash + SafeEncodeString. */
export function podTemplateHash(template: unknown): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...String(fnv32a(JSON.stringify(template ?? {})))]
    .map((c) => alphabet[c.charCodeAt(0) % alphabet.length])
    .join('');
}

function pruneEmpty(v: unknown): any {
  if (Array.isArray(v)) return v.map(pruneEmpty);
  if (isObj(v)) {
    const o: Obj = {};
    for (const [k, x] of Object.entries(v)) {
      const p = pruneEmpty(x);
      if (p === null || p === undefined || (isObj(p) && !Object.keys(p).length)) continue;
      o[k] = p;
    }
    return o;
  }
  return v;
}

export function neverReady(obj: Obj): boolean {
  const v = (o: any) => String(o?.metadata?.annotations?.[NEVER_READY] ?? '') === 'true';
  return v(obj) || v(obj?.spec?.template);
}

function condition(type: string, status: string, reason: string, message: string, now: string): Obj {
  return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
}

export class Controller {
  private timers = new Map<string, NodeJS.Timeout>();
  private podSeq = 10;
  private unsubscribe: () => void;

  constructor(
    private store: Store,
    private registry: Registry,
    private delayMs: () => number,
  ) {
    this.unsubscribe = store.subscribe((e) => this.onEvent(e));
  }

  stop(): void {
    this.unsubscribe();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private def(group: string, resource: string): ResourceDef {
    return this.registry.defs.find((d) => d.group === group && d.resource === resource)!;
  }

  private onEvent(e: StoredEvent): void {
    if (e.type === 'DELETED' || e.def.group !== (e.def.resource === 'jobs' ? 'batch' : 'apps')) return;
    if (!['deployments', 'statefulsets', 'daemonsets', 'jobs'].includes(e.def.resource)) return;
    const o = e.obj;
    if (o.status?.observedGeneration === o.metadata.generation && e.def.resource !== 'jobs') return;
    if (e.def.resource === 'jobs' && (o.status?.succeeded || o.status?.active)) return;
    const key = `${e.def.resource}/${o.metadata.namespace}/${o.metadata.name}`;
    const prev = this.timers.get(key);
    if (prev) clearTimeout(prev);
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        const cur = this.store.get(e.def, o.metadata.namespace, o.metadata.name);
        if (!cur) return;
        if (e.def.resource === 'deployments') this.reconcileDeployment(cur);
        else this.reconcileOther(e.def, cur);
      }, this.delayMs()),
    );
  }

  reconcileDeployment(dep: Obj): void {
    const now = nowTimestamp();
    const ns = dep.metadata.namespace;
    const rsDef = this.def('apps', 'replicasets');
    const depDef = this.def('apps', 'deployments');
    const template = clone(dep.spec?.template ?? {});
    const hash = podTemplateHash(pruneEmpty(template));
    const replicas: number = typeof dep.spec?.replicas === 'number' ? dep.spec.replicas : 1;
    const ready = !neverReady(dep);
    const owned = this.store
      .list(rsDef, ns)
      .filter((rs) =>
        (rs.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === dep.metadata.uid && r.controller),
      );
    const maxRevision = owned.reduce(
      (m, rs) => Math.max(m, Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)),
      0,
    );
    // compare templates the way a typed round trip would see them (nulls and empty maps aside)
    const stripHash = (t: Obj) => {
      const c = clone(t);
      if (c?.metadata?.labels) delete c.metadata.labels['pod-template-hash'];
      return pruneEmpty(c);
    };
    let current = owned.find((rs) => deepEqual(stripHash(rs.spec?.template ?? {}), stripHash(template)));
    const revision =
      current &&
      Number(current.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0) === maxRevision
        ? maxRevision
        : maxRevision + 1;
    const tpl = clone(template);
    tpl.metadata = {
      ...(tpl.metadata ?? {}),
      labels: {
        ...(tpl.metadata?.labels ?? {}),
        'pod-template-hash': current?.metadata?.labels?.['pod-template-hash'] ?? hash,
      },
    };
    const podHash = tpl.metadata.labels['pod-template-hash'];
    const readyCount = ready ? replicas : 0;
    const rsStatus: Obj = { replicas, fullyLabeledReplicas: replicas, observedGeneration: 1 };
    if (readyCount) Object.assign(rsStatus, { readyReplicas: readyCount, availableReplicas: readyCount });
    if (!current) {
      current = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${dep.metadata.name}-${podHash}`,
          namespace: ns,
          uid: randomUUID(),
          creationTimestamp: now,
          generation: 1,
          labels: { ...(tpl.metadata.labels ?? {}) },
          annotations: {
            'deployment.kubernetes.io/desired-replicas': String(replicas),
            'deployment.kubernetes.io/max-replicas': String(replicas + 1),
            'deployment.kubernetes.io/revision': String(revision),
          },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              name: dep.metadata.name,
              uid: dep.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          replicas,
          selector: {
            matchLabels: { ...(dep.spec?.selector?.matchLabels ?? {}), 'pod-template-hash': podHash },
            ...(dep.spec?.selector?.matchExpressions
              ? { matchExpressions: dep.spec.selector.matchExpressions }
              : {}),
          },
          template: tpl,
        },
        status: rsStatus,
      };
    } else {
      current.metadata.annotations = {
        ...(current.metadata.annotations ?? {}),
        'deployment.kubernetes.io/desired-replicas': String(replicas),
        'deployment.kubernetes.io/revision': String(revision),
      };
      current.spec.replicas = replicas;
      current.spec.template = tpl;
      rsStatus.observedGeneration = current.metadata.generation ?? 1;
      current.status = rsStatus;
    }
    const storedRs = this.store.put(rsDef, current);
    this.syncPods(storedRs, replicas, ready);
    for (const rs of owned) {
      if (rs.metadata.name === current.metadata.name) continue;
      this.syncPods(rs, 0, false);
      if (rs.spec?.replicas === 0) continue;
      rs.spec.replicas = 0;
      rs.metadata.generation = (rs.metadata.generation ?? 1) + 1;
      rs.status = { replicas: 0, observedGeneration: rs.metadata.generation };
      this.store.put(rsDef, rs);
    }
    const fresh = this.store.get(depDef, ns, dep.metadata.name);
    if (!fresh || fresh.metadata.uid !== dep.metadata.uid) return;
    if ((fresh.metadata.generation ?? 1) !== (dep.metadata.generation ?? 1)) return; // changed meanwhile; the next event reschedules
    fresh.metadata.annotations = {
      ...(fresh.metadata.annotations ?? {}),
      'deployment.kubernetes.io/revision': String(revision),
    };
    const status: Obj = {
      observedGeneration: fresh.metadata.generation ?? 1,
      replicas,
      updatedReplicas: replicas,
    };
    if (ready) {
      Object.assign(status, { readyReplicas: replicas, availableReplicas: replicas });
      status.conditions = [
        condition(
          'Available',
          'True',
          'MinimumReplicasAvailable',
          'Deployment has minimum availability.',
          now,
        ),
        condition(
          'Progressing',
          'True',
          'NewReplicaSetAvailable',
          `ReplicaSet "${current.metadata.name}" has successfully progressed.`,
          now,
        ),
      ];
    } else {
      if (replicas) status.unavailableReplicas = replicas;
      status.availableReplicas = 0;
      status.conditions = [
        condition(
          'Available',
          replicas ? 'False' : 'True',
          replicas ? 'MinimumReplicasUnavailable' : 'MinimumReplicasAvailable',
          replicas
            ? 'Deployment does not have minimum availability.'
            : 'Deployment has minimum availability.',
          now,
        ),
        condition(
          'Progressing',
          'True',
          'ReplicaSetUpdated',
          `ReplicaSet "${current.metadata.name}" is progressing.`,
          now,
        ),
      ];
    }
    fresh.status = status;
    this.store.put(depDef, fresh);
  }

  /** Keeps `count` Pods owned by the ReplicaSet (Running; Ready unless never-ready). */
  private syncPods(rs: Obj, count: number, ready: boolean): void {
    const podDef = this.def('', 'pods');
    const ns = rs.metadata.namespace;
    const pods = this.store
      .list(podDef, ns)
      .filter((p) => (p.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === rs.metadata.uid));
    for (const p of pods.slice(count)) this.store.remove(podDef, ns, p.metadata.name);
    const now = nowTimestamp();
    for (let i = pods.length; i < count; i++) {
      const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
      let suffix = '';
      for (let j = 0; j < 5; j++) suffix += alphabet[Math.floor(Math.random() * alphabet.length)];
      const tpl = rs.spec?.template ?? {};
      const containers: Obj[] = tpl.spec?.containers ?? [];
      this.podSeq++;
      const pod: Obj = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${rs.metadata.name}-${suffix}`,
          namespace: ns,
          uid: randomUUID(),
          creationTimestamp: now,
          labels: { ...(tpl.metadata?.labels ?? {}) },
          ...(tpl.metadata?.annotations ? { annotations: { ...tpl.metadata.annotations } } : {}),
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: rs.metadata.name,
              uid: rs.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { ...clone(tpl.spec ?? {}), nodeName: 'standin-node' },
        status: {
          phase: 'Running',
          podIP: `10.244.${Math.floor(this.podSeq / 250) % 250}.${(this.podSeq % 250) + 1}`,
          startTime: now,
          conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
            type,
            status: ready || type === 'Initialized' || type === 'PodScheduled' ? 'True' : 'False',
            lastTransitionTime: now,
          })),
          containerStatuses: containers.map((c) => ({
            name: c.name,
            image: c.image,
            imageID: '',
            ready,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: now } },
          })),
        },
      };
      this.store.put(podDef, pod);
    }
  }

  private reconcileOther(def: ResourceDef, obj: Obj): void {
    const now = nowTimestamp();
    const ready = !neverReady(obj);
    const gen = obj.metadata.generation ?? 1;
    if (def.resource === 'statefulsets') {
      const replicas: number = obj.spec?.replicas ?? 1;
      const rev = `${obj.metadata.name}-${podTemplateHash(obj.spec?.template)}`;
      const n = ready ? replicas : 0;
      obj.status = {
        observedGeneration: gen,
        replicas,
        currentReplicas: replicas,
        updatedReplicas: replicas,
        readyReplicas: n,
        availableReplicas: n,
        currentRevision: rev,
        updateRevision: rev,
        collisionCount: 0,
      };
    } else if (def.resource === 'daemonsets') {
      const n = ready ? 1 : 0;
      obj.status = {
        observedGeneration: gen,
        currentNumberScheduled: 1,
        desiredNumberScheduled: 1,
        numberMisscheduled: 0,
        numberReady: n,
        numberAvailable: n,
        updatedNumberScheduled: 1,
        ...(ready ? {} : { numberUnavailable: 1 }),
      };
    } else if (def.resource === 'jobs') {
      if (!ready) obj.status = { active: 1, startTime: now, ready: 0 };
      else {
        const n = obj.spec?.completions ?? 1;
        obj.status = {
          startTime: obj.metadata.creationTimestamp ?? now,
          completionTime: now,
          succeeded: n,
          ready: 0,
          conditions: [
            {
              type: 'SuccessCriteriaMet',
              status: 'True',
              lastProbeTime: now,
              lastTransitionTime: now,
              reason: 'CompletionsReached',
              message: 'Reached expected number of succeeded pods',
            },
            {
              type: 'Complete',
              status: 'True',
              lastProbeTime: now,
              lastTransitionTime: now,
              reason: 'CompletionsReached',
              message: 'Reached expected number of succeeded pods',
            },
          ],
        };
      }
    }
    if (isObj(obj.status)) this.store.put(def, obj);
  }
}
