/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects */
// IKubectl's object verbs, cancellation and the lease helper with the REAL kubectl
// (HELM_CANARY_TOOLS=helm4|helm3) against the Kubernetes API stand-in.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeApiServer } from '../../standins/kube-api/index.js';
import {
  createKubectl,
  KubeAlreadyExistsError,
  KubeConflictError,
  KubeNotFoundError,
  type IKubectl,
} from '../../src/kube/kubectl-helper.js';
import { ToolAbortedError } from '../../src/kube/exec-util.js';
import {
  acquireLease,
  formatMicroTime,
  LeaseHeldError,
  LeaseLostError,
  LEASE_RESOURCE,
  type LeaseLostInfo,
} from '../../src/kube/lease-helper.js';
import { run, toolsDir, toolsPair } from './tools.js';

const NS = 'locks';
const pair = toolsPair();
let server: KubeApiServer;
let kubectl: IKubectl;

beforeAll(async () => {
  server = await KubeApiServer.start({ deploymentReadyDelayMs: 0 });
  process.env.PATH = `${toolsDir()}:${process.env.PATH}`; // createKubectl uses io.which
  expect(
    (await run('kubectl', ['--kubeconfig', server.kubeconfigPath, 'create', 'namespace', NS])).code,
  ).toBe(0);
  kubectl = await createKubectl({ kubeconfigPath: server.kubeconfigPath, namespace: NS });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const lease = (name: string, holder: string) => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name, namespace: NS },
  spec: { holderIdentity: holder, leaseDurationSeconds: 30 },
});

describe(`IKubectl object verbs with real ${pair} kubectl`, () => {
  it('create, replace (guarded by resourceVersion), delete (plain and guarded)', async () => {
    const created = await kubectl.create<any>(lease('verbs', 'a'));
    expect(created.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(
      server.getObject('coordination.k8s.io/v1', 'Lease', NS, 'verbs').metadata.managedFields[0].manager,
    ).toBe('helm-canary');
    await expect(kubectl.create(lease('verbs', 'a'))).rejects.toBeInstanceOf(KubeAlreadyExistsError);

    const replaced = await kubectl.replace<any>({
      ...created,
      spec: { ...created.spec, holderIdentity: 'b' },
    });
    expect(replaced.spec.holderIdentity).toBe('b');
    // created's resourceVersion is stale now
    const stale = await kubectl
      .replace({ ...created, spec: { ...created.spec, holderIdentity: 'c' } })
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(KubeConflictError);
    expect((stale as Error).message).toMatch(/the object has been modified/);
    await expect(kubectl.replace(lease('missing', 'a'))).rejects.toBeInstanceOf(KubeNotFoundError);

    // guarded delete: a stale resourceVersion refuses, the current one deletes
    await expect(
      kubectl.delete(LEASE_RESOURCE, 'verbs', NS, { resourceVersion: created.metadata.resourceVersion }),
    ).rejects.toBeInstanceOf(KubeConflictError);
    expect((await kubectl.get(LEASE_RESOURCE, 'verbs'))?.spec.holderIdentity).toBe('b');
    expect(
      await kubectl.delete(LEASE_RESOURCE, 'verbs', NS, {
        resourceVersion: replaced.metadata.resourceVersion,
      }),
    ).toBe(true);
    expect(await kubectl.get(LEASE_RESOURCE, 'verbs')).toBeUndefined();
    expect(await kubectl.delete(LEASE_RESOURCE, 'verbs', NS, { resourceVersion: '1' })).toBe(false);

    await kubectl.create(lease('plain', 'a'));
    expect(await kubectl.delete('leases.coordination.k8s.io', 'plain')).toBe(true);
    expect(await kubectl.delete('leases.coordination.k8s.io', 'plain')).toBe(false);
    await expect(kubectl.delete('nosuchthings.example.com', 'x')).rejects.toThrow(/nosuchthings/);
  });

  it('an abort stops kubectl while it waits for the API; a call without the signal still works', async () => {
    server.injectFault({
      method: 'GET',
      path: `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/slow`,
      delayMs: 60_000,
    });
    server.clearRequests();
    const ac = new AbortController();
    const pending = kubectl.get(LEASE_RESOURCE, 'slow', NS, { signal: ac.signal }).catch((e: unknown) => e);
    // abort once kubectl's request is at the server (event order, not time)
    while (!server.inFlight().some((r) => r.path.endsWith('/leases/slow')))
      await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    const e = await pending;
    expect(e).toBeInstanceOf(ToolAbortedError);
    expect((e as Error).message).toMatch(/kubectl get leases\.v1\.coordination\.k8s\.io slow was cancelled/);
    // restore work after the abort passes no signal
    expect(await kubectl.get(LEASE_RESOURCE, 'other-one', NS)).toBeUndefined();
  }, 60_000);
});

describe(`acquireLease with real ${pair} kubectl`, () => {
  const A = 'https://github.com/o/r/actions/runs/100';
  const B = 'https://github.com/o/r/actions/runs/200';
  const T0 = Date.parse('2026-03-01T12:00:00Z');

  it('A acquires; B is refused naming A; A expires and B takes over; A notices; release deletes', async () => {
    const lostA: LeaseLostInfo[] = [];
    let tA = T0;
    const a = await acquireLease(kubectl, {
      name: 'helm-canary-web',
      namespace: NS,
      holder: A,
      durationSeconds: 5,
      waitMs: 0,
      now: () => tA,
      autoRenew: false,
      onLost: (i) => lostA.push(i),
    });
    const stored = server.getObject('coordination.k8s.io/v1', 'Lease', NS, 'helm-canary-web');
    expect(stored.spec).toEqual({
      holderIdentity: A,
      leaseDurationSeconds: 5,
      acquireTime: '2026-03-01T12:00:00.000000Z',
      renewTime: '2026-03-01T12:00:00.000000Z',
      leaseTransitions: 0,
    });
    expect(stored.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'helm-canary' });

    tA = T0 + 2000;
    await a.renew();
    expect(server.getObject('coordination.k8s.io/v1', 'Lease', NS, 'helm-canary-web').spec.renewTime).toBe(
      formatMicroTime(T0 + 2000),
    );

    // B, 1 s after A's renewal: refused at once
    const refused = await acquireLease(kubectl, {
      name: 'helm-canary-web',
      namespace: NS,
      holder: B,
      durationSeconds: 5,
      waitMs: 0,
      now: () => T0 + 3000,
      autoRenew: false,
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LeaseHeldError);
    expect((refused as LeaseHeldError).holder).toBe(A);
    expect((refused as Error).message).toContain(`held by another run: ${A} (it expires in 4s`);

    // B, 10 s after A's last renewal (A's lease ran out 5 s ago): takes over
    const b = await acquireLease(kubectl, {
      name: 'helm-canary-web',
      namespace: NS,
      holder: B,
      durationSeconds: 5,
      waitMs: 0,
      now: () => T0 + 12_000,
      autoRenew: false,
    });
    expect(b.tookOver).toEqual({ previousHolder: A, expiredForSeconds: 5 });
    expect(server.getObject('coordination.k8s.io/v1', 'Lease', NS, 'helm-canary-web').spec).toMatchObject({
      holderIdentity: B,
      leaseTransitions: 1,
      acquireTime: formatMicroTime(T0 + 12_000),
    });

    // A's next renewal finds B: lost, reported once; A's release leaves B's lease alone
    tA = T0 + 13_000;
    await expect(a.renew()).rejects.toBeInstanceOf(LeaseLostError);
    expect(lostA.map((l) => [l.reason, l.holder])).toEqual([['taken-over', B]]);
    expect(await a.release()).toBe(false);
    expect(
      server.getObject('coordination.k8s.io/v1', 'Lease', NS, 'helm-canary-web').spec.holderIdentity,
    ).toBe(B);

    // B releases: the Lease is deleted, guarded by the resourceVersion B read
    server.clearRequests();
    expect(await b.release()).toBe(true);
    expect(await kubectl.get(LEASE_RESOURCE, 'helm-canary-web')).toBeUndefined();
    const del = server.writes().find((r) => r.method === 'DELETE');
    expect(del?.path).toBe(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/helm-canary-web`);
    expect(JSON.parse(String(del?.body)).preconditions.resourceVersion).toMatch(/^\d+$/);
    expect(await b.release()).toBe(false);
  }, 60_000);
});
