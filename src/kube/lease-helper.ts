// A lock between runs: a coordination.k8s.io/v1 Lease with client-go's leader-election
// semantics (k8s.io/client-go/tools/leaderelection, LeaseLock):
//  - the holder writes spec.holderIdentity, leaseDurationSeconds, acquireTime, renewTime
//    (MicroTime, RFC3339 with microseconds) and leaseTransitions;
//  - a lease held by someone else is valid until renewTime + leaseDurationSeconds; after that
//    anyone may take it over with a write guarded by metadata.resourceVersion (leaseTransitions
//    + 1, new acquireTime); a lease with no holder is free;
//  - the holder renews it every durationSeconds / 3 (renewTime only; acquireTime and
//    leaseTransitions stay).
// Release deletes the Lease, guarded: read it, check that we still hold it, and delete with a
// resourceVersion precondition, so a lease someone took over meanwhile is never deleted.
// Expiry is judged from the lease's renewTime against our clock (client-go uses the local time it
// last saw a change, which also tolerates clock skew; runners' clocks are NTP-synchronised).
// Renewal and release never use the abort signal: after a cancellation the restore work still runs
// under the lock, and the lock is released afterwards.
import { ToolAbortedError } from './exec-util.js';
import {
  KubeAlreadyExistsError,
  KubeConflictError,
  KubeNotFoundError,
  type IKubectl,
  type KubeMetadata,
} from './kubectl-helper.js';

/** Fully qualified, so that a guarded (precondition) delete can build the API path. */
export const LEASE_RESOURCE = 'leases.v1.coordination.k8s.io';
export const LEASE_API_VERSION = 'coordination.k8s.io/v1';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  [k: string]: unknown;
}

export interface LeaseObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMetadata;
  spec?: LeaseSpec;
  [k: string]: unknown;
}

/** What a lease means for `holder` at `now`. */
export type LeaseView =
  | { state: 'free' }
  | { state: 'ours'; expiresInMs: number }
  | { state: 'held'; holder: string; expiresInMs: number }
  | { state: 'expired'; holder: string; expiredForMs: number };

/** MicroTime: RFC3339 with exactly six fractional digits, UTC. Pure. */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Epoch ms of an RFC3339 time (any number of fractional digits, Z or an offset). Pure. */
export function parseMicroTime(s: string | undefined): number | undefined {
  if (typeof s !== 'string') return undefined;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i.exec(s.trim());
  if (!m) return undefined;
  const base = Date.parse(`${m[1]}${m[3].toUpperCase()}`);
  if (Number.isNaN(base)) return undefined;
  const frac = m[2] ? Number(`0.${m[2]}`) * 1000 : 0;
  return base + frac;
}

/** When the lease stops being valid (epoch ms): renewTime (else acquireTime) + duration. Pure. */
export function leaseExpiresAt(spec: LeaseSpec | undefined): number | undefined {
  const renewed = parseMicroTime(spec?.renewTime) ?? parseMicroTime(spec?.acquireTime);
  if (renewed === undefined) return undefined;
  const duration = Number(spec?.leaseDurationSeconds ?? 0);
  return renewed + (Number.isFinite(duration) && duration > 0 ? duration * 1000 : 0);
}

/**
 * Whose is the lease, and is it still valid? No holder = free; a lease without times or duration
 * counts as expired (client-go does the same with a zero renew time). Pure.
 */
export function viewLease(spec: LeaseSpec | undefined, holder: string, nowMs: number): LeaseView {
  const current = spec?.holderIdentity ?? '';
  if (current === '') return { state: 'free' };
  const expiresAt = leaseExpiresAt(spec) ?? Number.NEGATIVE_INFINITY;
  if (current === holder) return { state: 'ours', expiresInMs: expiresAt - nowMs };
  if (expiresAt > nowMs) return { state: 'held', holder: current, expiresInMs: expiresAt - nowMs };
  const expiredForMs = Number.isFinite(expiresAt) ? nowMs - expiresAt : Number.POSITIVE_INFINITY;
  return { state: 'expired', holder: current, expiredForMs };
}

/**
 * The spec `holder` writes at `now` over `prev` (undefined = a new lease): renewing our own lease
 * keeps acquireTime and leaseTransitions; taking it from someone (or a free lease) sets
 * acquireTime and counts one transition; a new lease starts at 0 transitions. Pure.
 */
export function nextLeaseSpec(
  prev: LeaseSpec | undefined,
  holder: string,
  durationSeconds: number,
  nowMs: number,
): LeaseSpec {
  const now = formatMicroTime(nowMs);
  const base: LeaseSpec = { ...(prev ?? {}) };
  const ours = prev !== undefined && prev.holderIdentity === holder;
  return {
    ...base,
    holderIdentity: holder,
    leaseDurationSeconds: durationSeconds,
    acquireTime: ours && prev.acquireTime ? prev.acquireTime : now,
    renewTime: now,
    leaseTransitions:
      prev === undefined
        ? 0
        : ours
          ? Number(prev.leaseTransitions ?? 0)
          : Number(prev.leaseTransitions ?? 0) + 1,
  };
}

/** Refused: someone else holds a valid lease (after waiting up to waitMs). */
export class LeaseHeldError extends Error {
  constructor(
    readonly lease: string,
    readonly holder: string,
    readonly expiresInSeconds: number,
    readonly waitedMs: number,
  ) {
    const waited =
      waitedMs > 0 ? `Waited ${secs(waitedMs)} for it.` : 'Did not wait for it (lock-timeout is 0).';
    super(
      `The lock ${lease} is held by another run: ${holder} (it expires in ${expiresInSeconds}s unless ` +
        `that run renews it). ${waited} Wait for that run to finish, cancel it, or raise lock-timeout ` +
        `to wait longer.`,
    );
    this.name = 'LeaseHeldError';
  }
}

export interface LeaseLostInfo {
  /** taken-over: another holder wrote it; deleted: the Lease is gone; expired: renewals failed
   * for longer than the lease duration. */
  reason: 'taken-over' | 'deleted' | 'expired';
  /** The new holder (taken-over). */
  holder?: string;
  message: string;
}

export class LeaseLostError extends Error {
  constructor(readonly info: LeaseLostInfo) {
    super(info.message);
    this.name = 'LeaseLostError';
  }
}

export interface AcquireLeaseOptions {
  name: string;
  namespace: string;
  /** Our identity, e.g. this run's URL (the refusal message of other runs names it). */
  holder: string;
  durationSeconds: number;
  /** How long to wait while someone else holds a valid lease; 0 = fail at once. */
  waitMs: number;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
  /** Default: a timer that ends early when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Re-read interval while waiting. Default 2000. */
  pollMs?: number;
  /** Cancels the acquisition (waiting and its kubectl calls); never renewal or release. */
  signal?: AbortSignal;
  /** Automatic renewal every durationSeconds / 3 (unref'd timer). Default true. */
  autoRenew?: boolean;
  /** Override of the renewal interval (ms). */
  renewEveryMs?: number;
  /** The lease was lost (called once); renew() then throws LeaseLostError. */
  onLost?: (info: LeaseLostInfo) => void;
  /** An automatic renewal failed (will be retried at the next tick). */
  onRenewError?: (err: unknown) => void;
  /** Called before each wait for another holder. */
  onWait?: (holder: string, expiresInMs: number) => void;
  /** Labels for a new Lease (added to app.kubernetes.io/managed-by=helm-canary). */
  labels?: Record<string, string>;
}

export interface LeaseHandle {
  readonly name: string;
  readonly namespace: string;
  readonly holder: string;
  readonly durationSeconds: number;
  /** Set when we took over a lease whose holder had let it expire (warn about it). */
  readonly tookOver?: { previousHolder: string; expiredForSeconds: number };
  /** True when the lease already was ours (same holder) and acquisition renewed it. */
  readonly reacquired: boolean;
  /** Set once the lease is lost. */
  readonly lost: LeaseLostInfo | undefined;
  /** Renews now (guarded replace of renewTime). Throws LeaseLostError when it is no longer ours. */
  renew(): Promise<void>;
  /** Stops renewing; deletes the lease if it still is ours. true = deleted. Idempotent. */
  release(): Promise<boolean>;
}

/** Immediate re-reads allowed after a lost race (AlreadyExists / Conflict) per attempt. */
const MAX_RACES = 5;

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function secs(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

/**
 * Acquires the Lease `namespace/name` for `holder`: creates it, renews it when it already is
 * ours, takes it over when its holder let it expire, and otherwise waits up to `waitMs` before
 * throwing LeaseHeldError. Kubernetes errors other than lost races propagate.
 */
export async function acquireLease(kubectl: IKubectl, opts: AcquireLeaseOptions): Promise<LeaseHandle> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? defaultSleep;
  const pollMs = opts.pollMs ?? 2000;
  const { name, namespace, holder, durationSeconds, signal } = opts;
  if (!Number.isInteger(durationSeconds) || durationSeconds < 1)
    throw new Error(`lease duration must be a whole number of seconds >= 1, not ${durationSeconds}`);
  const label = `${namespace}/${name}`;
  const started = now();
  const call = { signal };
  const checkAborted = (): void => {
    if (signal?.aborted) throw new ToolAbortedError(`waiting for the lock ${label} was cancelled`);
  };

  let races = 0;
  for (;;) {
    checkAborted();
    const cur = await kubectl.get<LeaseObject>(LEASE_RESOURCE, name, namespace, call);
    const t = now();
    if (!cur) {
      const lease: LeaseObject = {
        apiVersion: LEASE_API_VERSION,
        kind: 'Lease',
        metadata: {
          name,
          namespace,
          labels: { 'app.kubernetes.io/managed-by': 'helm-canary', ...(opts.labels ?? {}) },
        },
        spec: nextLeaseSpec(undefined, holder, durationSeconds, t),
      };
      try {
        const created = await kubectl.create<LeaseObject>(lease, call);
        return new Lease(kubectl, opts, created, undefined, false);
      } catch (e) {
        if (e instanceof KubeAlreadyExistsError && ++races <= MAX_RACES) continue;
        throw e;
      }
    }
    const view = viewLease(cur.spec, holder, t);
    if (view.state === 'held') {
      const waited = t - started;
      const left = opts.waitMs - waited;
      if (left <= 0)
        throw new LeaseHeldError(label, view.holder, Math.max(0, Math.ceil(view.expiresInMs / 1000)), waited);
      opts.onWait?.(view.holder, view.expiresInMs);
      await sleep(Math.max(1, Math.min(pollMs, left, view.expiresInMs)), signal);
      races = 0;
      continue;
    }
    // free, expired or ours: write ourselves in, guarded by the resourceVersion we read
    const next: LeaseObject = { ...cur, spec: nextLeaseSpec(cur.spec, holder, durationSeconds, t) };
    try {
      const written = await kubectl.replace<LeaseObject>(next, call);
      const tookOver =
        view.state === 'expired'
          ? {
              previousHolder: view.holder,
              expiredForSeconds: Number.isFinite(view.expiredForMs)
                ? Math.max(0, Math.round(view.expiredForMs / 1000))
                : -1,
            }
          : undefined;
      return new Lease(kubectl, opts, written, tookOver, view.state === 'ours');
    } catch (e) {
      const raced = e instanceof KubeConflictError || e instanceof KubeNotFoundError;
      if (raced && ++races <= MAX_RACES) continue;
      throw e;
    }
  }
}

class Lease implements LeaseHandle {
  readonly name: string;
  readonly namespace: string;
  readonly holder: string;
  readonly durationSeconds: number;
  lost: LeaseLostInfo | undefined;
  /** metadata.resourceVersion of our last write. */
  resourceVersion: string | undefined;
  private lastRenewMs: number;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private released = false;
  private readonly now: () => number;

  constructor(
    private readonly kubectl: IKubectl,
    private readonly opts: AcquireLeaseOptions,
    written: LeaseObject,
    readonly tookOver: { previousHolder: string; expiredForSeconds: number } | undefined,
    readonly reacquired: boolean,
  ) {
    this.name = opts.name;
    this.namespace = opts.namespace;
    this.holder = opts.holder;
    this.durationSeconds = opts.durationSeconds;
    this.resourceVersion = written.metadata?.resourceVersion;
    this.now = opts.now ?? Date.now;
    this.lastRenewMs = this.now();
    if (opts.autoRenew !== false) this.schedule();
  }

  private get label(): string {
    return `${this.namespace}/${this.name}`;
  }

  private schedule(): void {
    if (this.released || this.lost) return;
    const every = this.opts.renewEveryMs ?? Math.max(1000, (this.durationSeconds * 1000) / 3);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.renew()
        .catch((e: unknown) => {
          if (e instanceof LeaseLostError) return;
          this.opts.onRenewError?.(e);
          // renewals failed for the whole duration: someone may take it over now
          if (this.now() - this.lastRenewMs >= this.durationSeconds * 1000)
            this.markLost({
              reason: 'expired',
              message: `the lock ${this.label} expired: it could not be renewed for ${this.durationSeconds}s (${String(e instanceof Error ? e.message : e)})`,
            });
        })
        .finally(() => this.schedule());
    }, every);
    this.timer.unref();
  }

  private markLost(info: LeaseLostInfo): LeaseLostError {
    if (!this.lost) {
      this.lost = info;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      try {
        this.opts.onLost?.(info);
      } catch {
        // a failing callback must not break the renewal loop
      }
    }
    return new LeaseLostError(this.lost);
  }

  renew(): Promise<void> {
    if (this.lost) return Promise.reject(new LeaseLostError(this.lost));
    if (this.released) return Promise.reject(new Error(`the lock ${this.label} was released`));
    this.inflight ??= this.renewOnce().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async renewOnce(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.kubectl.get<LeaseObject>(LEASE_RESOURCE, this.name, this.namespace);
      if (!cur)
        throw this.markLost({
          reason: 'deleted',
          message: `the lock ${this.label} was deleted by someone else while this run held it`,
        });
      const holder = cur.spec?.holderIdentity ?? '';
      if (holder !== this.holder)
        throw this.markLost({
          reason: 'taken-over',
          holder,
          message: holder
            ? `the lock ${this.label} was taken over by ${holder} while this run held it`
            : `the lock ${this.label} was released by someone else while this run held it`,
        });
      const t = this.now();
      const next: LeaseObject = {
        ...cur,
        spec: nextLeaseSpec(cur.spec, this.holder, this.durationSeconds, t),
      };
      try {
        const written = await this.kubectl.replace<LeaseObject>(next);
        this.resourceVersion = written.metadata?.resourceVersion;
        this.lastRenewMs = t;
        return;
      } catch (e) {
        if ((e instanceof KubeConflictError || e instanceof KubeNotFoundError) && attempt < MAX_RACES)
          continue;
        throw e;
      }
    }
  }

  async release(): Promise<boolean> {
    if (this.released) return false;
    this.released = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight?.catch(() => undefined);
    for (let attempt = 0; attempt <= MAX_RACES; attempt++) {
      const cur = await this.kubectl.get<LeaseObject>(LEASE_RESOURCE, this.name, this.namespace);
      if (!cur || (cur.spec?.holderIdentity ?? '') !== this.holder) return false;
      try {
        return await this.kubectl.delete(LEASE_RESOURCE, this.name, this.namespace, {
          resourceVersion: String(cur.metadata.resourceVersion ?? ''),
        });
      } catch (e) {
        if (!(e instanceof KubeConflictError)) throw e; // changed between read and delete: re-read
      }
    }
    throw new Error(`could not release the lock ${this.label}: it kept changing`);
  }
}
