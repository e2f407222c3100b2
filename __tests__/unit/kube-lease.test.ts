/* eslint-disable @typescript-eslint/no-explicit-any -- fake Kubernetes objects */
// The lease helper: pure decisions with an injected clock, and acquire/renew/release against an
// in-memory IKubectl that guards writes by resourceVersion like the apiserver.
import { describe, it, expect } from '@jest/globals';
import {
  acquireLease,
  formatMicroTime,
  leaseExpiresAt,
  LeaseHeldError,
  LeaseLostError,
  LEASE_RESOURCE,
  nextLeaseSpec,
  parseMicroTime,
  viewLease,
  type LeaseLostInfo,
} from '../../src/kube/lease-helper.js';
import {
  KubeAlreadyExistsError,
  KubeConflictError,
  type IKubectl,
  type KubeDeleteOptions,
  type KubeObject,
} from '../../src/kube/kubectl-helper.js';
import { ToolAbortedError } from '../../src/kube/exec-util.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const A = 'https://github.com/o/r/actions/runs/1';
const B = 'https://github.com/o/r/actions/runs/2';
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('MicroTime', () => {
  it('formats with six fractional digits and parses any precision', () => {
    expect(formatMicroTime(T0 + 123)).toBe('2026-03-01T12:00:00.123000Z');
    expect(parseMicroTime('2026-03-01T12:00:00.123456Z')).toBe(T0 + 123.456);
    expect(parseMicroTime('2026-03-01T12:00:00Z')).toBe(T0);
    expect(parseMicroTime('2026-03-01T13:00:00+01:00')).toBe(T0);
    expect(parseMicroTime(formatMicroTime(T0 + 5))).toBe(T0 + 5);
    expect(parseMicroTime('yesterday')).toBeUndefined();
    expect(parseMicroTime(undefined)).toBeUndefined();
  });
});

describe('viewLease / leaseExpiresAt', () => {
  const spec = (holder: string, renewedAt: number, duration = 60) => ({
    holderIdentity: holder,
    leaseDurationSeconds: duration,
    acquireTime: formatMicroTime(renewedAt - 1000),
    renewTime: formatMicroTime(renewedAt),
  });
  it('expires at renewTime + duration (acquireTime when never renewed)', () => {
    expect(leaseExpiresAt(spec(A, T0))).toBe(T0 + 60_000);
    expect(leaseExpiresAt({ acquireTime: formatMicroTime(T0), leaseDurationSeconds: 10 })).toBe(T0 + 10_000);
    expect(leaseExpiresAt({ holderIdentity: A })).toBeUndefined();
  });
  it('held by someone else until it expires, then expired', () => {
    expect(viewLease(spec(A, T0), B, T0 + 59_999)).toEqual({ state: 'held', holder: A, expiresInMs: 1 });
    expect(viewLease(spec(A, T0), B, T0 + 60_000)).toEqual({ state: 'expired', holder: A, expiredForMs: 0 });
    expect(viewLease(spec(A, T0), B, T0 + 90_000)).toEqual({
      state: 'expired',
      holder: A,
      expiredForMs: 30_000,
    });
  });
  it('ours whatever its age; free without a holder; expired without times', () => {
    expect(viewLease(spec(A, T0), A, T0 + 10_000)).toEqual({ state: 'ours', expiresInMs: 50_000 });
    expect(viewLease(spec(A, T0), A, T0 + 70_000)).toEqual({ state: 'ours', expiresInMs: -10_000 });
    expect(viewLease({ ...spec('', T0) }, B, T0)).toEqual({ state: 'free' });
    expect(viewLease(undefined, B, T0)).toEqual({ state: 'free' });
    expect(viewLease({ holderIdentity: A }, B, T0)).toMatchObject({ state: 'expired', holder: A });
  });
});

describe('nextLeaseSpec', () => {
  it('new lease: 0 transitions, acquire = renew = now', () => {
    expect(nextLeaseSpec(undefined, A, 30, T0)).toEqual({
      holderIdentity: A,
      leaseDurationSeconds: 30,
      acquireTime: '2026-03-01T12:00:00.000000Z',
      renewTime: '2026-03-01T12:00:00.000000Z',
      leaseTransitions: 0,
    });
  });
  it('renewing our own keeps acquireTime and transitions; taking over counts one', () => {
    const mine = nextLeaseSpec(undefined, A, 30, T0);
    const renewed = nextLeaseSpec({ ...mine, leaseTransitions: 2 }, A, 30, T0 + 10_000);
    expect(renewed).toMatchObject({
      acquireTime: mine.acquireTime,
      renewTime: formatMicroTime(T0 + 10_000),
      leaseTransitions: 2,
    });
    const taken = nextLeaseSpec(renewed, B, 45, T0 + 99_000);
    expect(taken).toEqual({
      holderIdentity: B,
      leaseDurationSeconds: 45,
      acquireTime: formatMicroTime(T0 + 99_000),
      renewTime: formatMicroTime(T0 + 99_000),
      leaseTransitions: 3,
    });
    expect(nextLeaseSpec({ holderIdentity: '' }, B, 45, T0).leaseTransitions).toBe(1);
  });
});

/** One namespace of Leases, with the apiserver's resourceVersion guards. */
class FakeLeases implements IKubectl {
  readonly path = '/fake/kubectl';
  readonly version = 'v1.35.2';
  objects = new Map<string, any>();
  rv = 10;
  log: string[] = [];
  signals: Array<AbortSignal | undefined> = [];
  /** Runs before each write (to make a concurrent change). */
  beforeWrite?: (verb: string) => void;
  failGets = 0;

  async get<T = any>(resource: string, name: string, _ns?: string, o?: { signal?: AbortSignal }) {
    expect(resource).toBe(LEASE_RESOURCE);
    this.signals.push(o?.signal);
    this.log.push(`get ${name}`);
    if (this.failGets > 0) {
      this.failGets--;
      throw new Error('Unable to connect to the server');
    }
    const o2 = this.objects.get(name);
    return o2 ? (clone(o2) as T) : undefined;
  }
  async create<T = any>(obj: KubeObject, o?: { signal?: AbortSignal }): Promise<T> {
    this.signals.push(o?.signal);
    this.log.push(`create ${obj.metadata.name}`);
    this.beforeWrite?.('create');
    if (this.objects.has(obj.metadata.name!)) throw new KubeAlreadyExistsError('AlreadyExists');
    const stored = {
      ...clone(obj),
      metadata: { ...clone(obj.metadata), resourceVersion: String(++this.rv) },
    };
    this.objects.set(obj.metadata.name!, stored);
    return clone(stored) as T;
  }
  async replace<T = any>(obj: KubeObject, o?: { signal?: AbortSignal }): Promise<T> {
    this.signals.push(o?.signal);
    this.log.push(`replace ${obj.metadata.name} ${(obj as any).spec?.holderIdentity}`);
    this.beforeWrite?.('replace');
    const cur = this.objects.get(obj.metadata.name!);
    if (!cur) throw new Error('NotFound');
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== cur.metadata.resourceVersion)
      throw new KubeConflictError('the object has been modified');
    const stored = {
      ...clone(obj),
      metadata: { ...clone(obj.metadata), resourceVersion: String(++this.rv) },
    };
    this.objects.set(obj.metadata.name!, stored);
    return clone(stored) as T;
  }
  async getRaw(): Promise<{ ok: boolean; body: string }> {
    throw new Error('not used');
  }
  async delete(resource: string, name: string, _ns?: string, o: KubeDeleteOptions = {}): Promise<boolean> {
    expect(resource).toBe(LEASE_RESOURCE);
    this.signals.push(o.signal);
    this.log.push(`delete ${name} rv=${o.resourceVersion}`);
    this.beforeWrite?.('delete');
    const cur = this.objects.get(name);
    if (!cur) return false;
    if (o.resourceVersion !== undefined && o.resourceVersion !== cur.metadata.resourceVersion)
      throw new KubeConflictError('Precondition failed');
    this.objects.delete(name);
    return true;
  }
  /** Someone else writes the lease (bumps resourceVersion). */
  put(name: string, spec: any) {
    const cur = this.objects.get(name) ?? {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: 'shop' },
    };
    this.objects.set(name, {
      ...cur,
      spec,
      metadata: { ...cur.metadata, resourceVersion: String(++this.rv) },
    });
  }
  async list(): Promise<any[]> {
    return [];
  }
  async listAll(): Promise<any[]> {
    throw new Error('not used');
  }
  async patchJson(): Promise<any> {
    throw new Error('not used');
  }
  async annotate(): Promise<void> {
    throw new Error('not used');
  }
  async namespaceLabels(): Promise<Record<string, string> | undefined> {
    return {};
  }
}

function clock(start = T0) {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    advance: (ms: number) => (t += ms),
    sleeps,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

const base = { name: 'lock', namespace: 'shop', durationSeconds: 60, waitMs: 0, autoRenew: false };

describe('acquireLease', () => {
  it('creates a new lease with client-go fields and a label', async () => {
    const kube = new FakeLeases();
    const c = clock();
    const h = await acquireLease(kube, { ...base, holder: A, now: c.now });
    const obj = kube.objects.get('lock');
    expect(obj.spec).toEqual({
      holderIdentity: A,
      leaseDurationSeconds: 60,
      acquireTime: '2026-03-01T12:00:00.000000Z',
      renewTime: '2026-03-01T12:00:00.000000Z',
      leaseTransitions: 0,
    });
    expect(obj.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'helm-canary' });
    expect(h).toMatchObject({ holder: A, tookOver: undefined, reacquired: false, lost: undefined });
  });

  it('refuses at once (waitMs 0) naming the holder and what to do', async () => {
    const kube = new FakeLeases();
    const c = clock();
    await acquireLease(kube, { ...base, holder: A, now: c.now });
    c.advance(20_000);
    const e = (await acquireLease(kube, { ...base, holder: B, now: c.now, sleep: c.sleep }).catch(
      (x: unknown) => x,
    )) as LeaseHeldError;
    expect(e).toBeInstanceOf(LeaseHeldError);
    expect(e.holder).toBe(A);
    expect(e.expiresInSeconds).toBe(40);
    expect(e.message).toContain(`held by another run: ${A}`);
    expect(e.message).toMatch(/Wait for that run to finish, cancel it, or raise lock-timeout/);
    expect(e.message).toMatch(/Did not wait/);
    expect(c.sleeps).toEqual([]);
    expect(kube.objects.get('lock').spec.holderIdentity).toBe(A);
  });

  it('waits up to waitMs, polling, then refuses', async () => {
    const kube = new FakeLeases();
    const c = clock();
    await acquireLease(kube, { ...base, holder: A, now: c.now });
    const waits: string[] = [];
    const e = await acquireLease(kube, {
      ...base,
      holder: B,
      waitMs: 5000,
      pollMs: 2000,
      now: c.now,
      sleep: c.sleep,
      onWait: (h) => waits.push(h),
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LeaseHeldError);
    expect((e as Error).message).toMatch(/Waited 5s/);
    expect(c.sleeps).toEqual([2000, 2000, 1000]);
    expect(waits).toEqual([A, A, A]);
  });

  it('gets the lease when the holder releases it while we wait', async () => {
    const kube = new FakeLeases();
    const c = clock();
    const a = await acquireLease(kube, { ...base, holder: A, now: c.now });
    let slept = 0;
    const b = await acquireLease(kube, {
      ...base,
      holder: B,
      waitMs: 60_000,
      now: c.now,
      sleep: async (ms) => {
        c.advance(ms);
        if (++slept === 2) await a.release();
      },
    });
    expect(slept).toBe(2);
    expect(b.tookOver).toBeUndefined();
    expect(kube.objects.get('lock').spec).toMatchObject({ holderIdentity: B, leaseTransitions: 0 });
  });

  it('waits no longer than the lease has left, then takes it over', async () => {
    const kube = new FakeLeases();
    const c = clock();
    await acquireLease(kube, { ...base, holder: A, durationSeconds: 3, now: c.now });
    const b = await acquireLease(kube, {
      ...base,
      holder: B,
      waitMs: 60_000,
      pollMs: 2000,
      now: c.now,
      sleep: c.sleep,
    });
    expect(c.sleeps).toEqual([2000, 1000]);
    expect(b.tookOver).toEqual({ previousHolder: A, expiredForSeconds: 0 });
  });

  it('takes over an expired lease with a guarded replace, one more transition', async () => {
    const kube = new FakeLeases();
    const c = clock();
    await acquireLease(kube, { ...base, holder: A, now: c.now });
    const rvBefore = kube.objects.get('lock').metadata.resourceVersion;
    c.advance(90_000);
    const b = await acquireLease(kube, { ...base, holder: B, now: c.now });
    expect(b.tookOver).toEqual({ previousHolder: A, expiredForSeconds: 30 });
    const obj = kube.objects.get('lock');
    expect(obj.spec).toMatchObject({
      holderIdentity: B,
      leaseTransitions: 1,
      acquireTime: formatMicroTime(c.now()),
      renewTime: formatMicroTime(c.now()),
    });
    expect(Number(obj.metadata.resourceVersion)).toBeGreaterThan(Number(rvBefore));
    expect(kube.log.filter((l) => l.startsWith('replace'))).toEqual([`replace lock ${B}`]);
  });

  it('renews a lease that already is ours (same holder: a re-run)', async () => {
    const kube = new FakeLeases();
    const c = clock();
    await acquireLease(kube, { ...base, holder: A, now: c.now });
    c.advance(10_000);
    const again = await acquireLease(kube, { ...base, holder: A, now: c.now });
    expect(again).toMatchObject({ reacquired: true, tookOver: undefined });
    expect(kube.objects.get('lock').spec).toMatchObject({
      acquireTime: formatMicroTime(T0),
      renewTime: formatMicroTime(T0 + 10_000),
      leaseTransitions: 0,
    });
  });

  it('re-reads after losing a race (create AlreadyExists, replace Conflict)', async () => {
    const kube = new FakeLeases();
    const c = clock();
    kube.beforeWrite = (verb) => {
      kube.beforeWrite = undefined;
      if (verb === 'create') kube.put('lock', nextLeaseSpec(undefined, A, 60, c.now()));
    };
    const e = await acquireLease(kube, { ...base, holder: B, now: c.now }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LeaseHeldError); // A won the race and holds it
    expect((e as LeaseHeldError).holder).toBe(A);

    c.advance(120_000); // A's lease expired
    kube.beforeWrite = (verb) => {
      kube.beforeWrite = undefined;
      if (verb === 'replace') kube.put('lock', nextLeaseSpec(kube.objects.get('lock').spec, A, 60, c.now()));
    };
    const e2 = await acquireLease(kube, { ...base, holder: B, now: c.now }).catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(LeaseHeldError); // A renewed first: our guarded write lost
    expect(kube.objects.get('lock').spec.holderIdentity).toBe(A);
  });

  it('passes its signal to its kubectl calls; an abort while waiting stops it', async () => {
    const kube = new FakeLeases();
    const c = clock();
    await acquireLease(kube, { ...base, holder: A, now: c.now });
    const ac = new AbortController();
    kube.signals = [];
    const e = await acquireLease(kube, {
      ...base,
      holder: B,
      waitMs: 60_000,
      now: c.now,
      signal: ac.signal,
      sleep: async (ms) => {
        c.advance(ms);
        ac.abort();
      },
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ToolAbortedError);
    expect((e as Error).message).toMatch(/waiting for the lock shop\/lock was cancelled/);
    expect(kube.signals).toEqual([ac.signal]);
  });

  it('rejects a duration that is no whole number of seconds', async () => {
    await expect(
      acquireLease(new FakeLeases(), { ...base, holder: A, durationSeconds: 0.5 }),
    ).rejects.toThrow(/whole number of seconds/);
  });
});

describe('LeaseHandle', () => {
  it('renew() writes renewTime (no signal, even if acquire had one)', async () => {
    const kube = new FakeLeases();
    const c = clock();
    const ac = new AbortController();
    const h = await acquireLease(kube, { ...base, holder: A, now: c.now, signal: ac.signal });
    ac.abort(); // a cancelled run keeps its lock while it restores
    kube.signals = [];
    c.advance(20_000);
    await h.renew();
    expect(kube.objects.get('lock').spec.renewTime).toBe(formatMicroTime(T0 + 20_000));
    expect(kube.signals).toEqual([undefined, undefined]);
  });

  it('reports a lease taken over by someone else once, via onLost, and renew() then throws', async () => {
    const kube = new FakeLeases();
    const c = clock();
    const lost: LeaseLostInfo[] = [];
    const a = await acquireLease(kube, { ...base, holder: A, now: c.now, onLost: (i) => lost.push(i) });
    c.advance(61_000);
    await acquireLease(kube, { ...base, holder: B, now: c.now });
    const e = await a.renew().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LeaseLostError);
    expect(lost).toEqual([
      {
        reason: 'taken-over',
        holder: B,
        message: `the lock shop/lock was taken over by ${B} while this run held it`,
      },
    ]);
    expect(a.lost).toEqual(lost[0]);
    await expect(a.renew()).rejects.toBeInstanceOf(LeaseLostError);
    expect(lost).toHaveLength(1);
    // and release leaves B's lease alone
    expect(await a.release()).toBe(false);
    expect(kube.objects.get('lock').spec.holderIdentity).toBe(B);
  });

  it('reports a deleted lease as lost', async () => {
    const kube = new FakeLeases();
    const lost: LeaseLostInfo[] = [];
    const a = await acquireLease(kube, { ...base, holder: A, onLost: (i) => lost.push(i) });
    kube.objects.delete('lock');
    await expect(a.renew()).rejects.toBeInstanceOf(LeaseLostError);
    expect(lost.map((l) => l.reason)).toEqual(['deleted']);
  });

  it('release deletes only our lease, guarded by the resourceVersion it read; idempotent', async () => {
    const kube = new FakeLeases();
    const a = await acquireLease(kube, { ...base, holder: A });
    const rv = kube.objects.get('lock').metadata.resourceVersion;
    expect(await a.release()).toBe(true);
    expect(kube.objects.has('lock')).toBe(false);
    expect(kube.log.at(-1)).toBe(`delete lock rv=${rv}`);
    expect(await a.release()).toBe(false);
    await expect(a.renew()).rejects.toThrow(/released/);
  });

  it('release re-reads when the lease changed between its read and its delete', async () => {
    const kube = new FakeLeases();
    const c = clock();
    const a = await acquireLease(kube, { ...base, holder: A, now: c.now });
    // B takes it over right between A's read and A's delete
    kube.beforeWrite = (verb) => {
      if (verb !== 'delete') return;
      kube.beforeWrite = undefined;
      kube.put('lock', nextLeaseSpec(kube.objects.get('lock').spec, B, 60, c.now()));
    };
    expect(await a.release()).toBe(false);
    expect(kube.objects.get('lock').spec.holderIdentity).toBe(B);
  });

  it('renews automatically on an unref-ed timer until released', async () => {
    const kube = new FakeLeases();
    let renewed!: () => void;
    const second = new Promise<void>((r) => (renewed = r));
    const origReplace = kube.replace.bind(kube);
    let replaces = 0;
    kube.replace = async (obj, o) => {
      const r = await origReplace(obj, o);
      if (++replaces === 2) renewed();
      return r as any;
    };
    const h = await acquireLease(kube, { ...base, holder: A, autoRenew: true, renewEveryMs: 5 });
    await second;
    expect(await h.release()).toBe(true);
    const after = kube.log.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(kube.log.length).toBe(after); // no renewal after release
  });

  it('automatic renewal: errors are reported; failing for the whole duration loses the lease', async () => {
    const kube = new FakeLeases();
    const c = clock();
    const errors: unknown[] = [];
    let lostInfo!: (i: LeaseLostInfo) => void;
    const lost = new Promise<LeaseLostInfo>((r) => (lostInfo = r));
    const h = await acquireLease(kube, {
      ...base,
      holder: A,
      durationSeconds: 3,
      now: c.now,
      autoRenew: true,
      renewEveryMs: 5,
      onRenewError: (e) => {
        errors.push(e);
        c.advance(1000);
      },
      onLost: lostInfo,
    });
    kube.failGets = 100;
    const info = await lost;
    expect(info.reason).toBe('expired');
    expect(info.message).toMatch(/could not be renewed for 3s \(Unable to connect to the server\)/);
    expect(errors).toHaveLength(3);
    expect(h.lost).toBe(info);
    kube.failGets = 0;
    expect(await h.release()).toBe(true); // still ours in the API: release cleans it up
  });
});
