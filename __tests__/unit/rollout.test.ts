import { describe, it, expect } from '@jest/globals';
import { runRecovery, runRollout, type RolloutDeps } from '../../src/rollout/rollout.js';
import type { VerifyRequest } from '../../src/verify/verifier.js';
import {
  compareDestinations,
  RouteChangedError,
  type Destination,
  type Inspection,
  type PinnedRoute,
  type RouteSnapshot,
  type ServiceRef,
  type TrafficRouter,
  type WriteGuard,
} from '../../src/router/router.js';
import type { Settings } from '../../src/lib/types.js';
import { Keys } from '../../src/rollout/state.js';

const svcManifest = (name: string, port = 80) => `---
# Source: sample/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  ports:
    - port: ${port}
      targetPort: http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
`;

function settings(over: Partial<Settings> = {}): Settings {
  return {
    command: 'rollout',
    chart: './chart',
    release: 'sample',
    version: 'v2',
    canaryRelease: 'sample-v2',
    namespace: 'default',
    valuesFiles: [],
    set: [],
    helmArgs: [],
    virtualService: 'vs',
    steps: [
      { weight: 10, bakeMs: 10 },
      { weight: 50, bakeMs: 10 },
      { weight: 100, bakeMs: 10 },
    ],
    intervalMs: 10,
    verify: { headers: {}, statuses: [[200, 399]], rps: 5, timeoutMs: 5000, successRate: 0.99 },
    onFailure: 'rollback',
    promotion: 'auto',
    cleanup: true,
    helmTimeoutMs: 60000,
    timeoutMs: 600000,
    dryRun: false,
    comment: false,
    ...over,
  } as Settings;
}

class FakeRouter implements TrafficRouter {
  readonly kind = 'VirtualService';
  readonly name = 'vs';
  readonly namespace = 'default';
  writes: Destination[][] = [];
  annotations: Record<string, string> = {};
  /** Every write of the router, in order (shared with the world's event log). */
  events: string[] = [];
  constructor(public destinations: Destination[]) {}
  /** What inspect() reports: a rollout never writes anything before reading it. */
  inspection: Inspection = { owners: [], warnings: [] };
  otherRoutes: string[] = [];
  pinned?: string;
  changedBy?: string;
  async inspect(): Promise<Inspection> {
    return this.inspection;
  }
  async getRoutes(): Promise<RouteSnapshot> {
    return {
      route: '#0',
      destinations: this.destinations,
      version: '1',
      state: { ...this.annotations },
      changedBy: this.changedBy,
    };
  }
  /** Errors the next setRoutes calls throw (an API answering 5xx). */
  failWrites: Error[] = [];
  /** Called when a step's verification runs: lets a test change the route as a person would. */
  async setRoutes(d: Destination[], guard?: WriteGuard): Promise<RouteSnapshot> {
    const e = this.failWrites.shift();
    if (e) throw e;
    if (guard?.current && compareDestinations(guard.current, this.destinations) !== undefined)
      throw new RouteChangedError('the route changed', this.destinations, 'field manager "kubectl-patch"');
    this.writes.push(d);
    this.events.push(`route ${d.map((x) => `${x.host}=${x.weight}`).join(',')}`);
    this.destinations = d;
    return this.getRoutes();
  }
  async setState(a: Record<string, string | null>): Promise<void> {
    for (const [k, v] of Object.entries(a)) {
      if (v === null) delete this.annotations[k];
      else this.annotations[k] = v;
    }
  }
  pins: PinnedRoute[] = [];
  async setPinnedRoute(p: PinnedRoute): Promise<void> {
    this.pins.push(p);
    this.events.push(`pin ${p.header}: ${p.value} -> ${p.destination.host}`);
    this.pinned = p.value;
  }
  async removePinnedRoute(): Promise<boolean> {
    const had = this.pinned !== undefined;
    if (had) this.events.push('unpin');
    this.pinned = undefined;
    return had;
  }
  async references(): Promise<string[]> {
    return this.otherRoutes;
  }
  /** Hosts the fake calls external, with why. */
  external: Record<string, string> = {};
  async externalHost(host: string): Promise<string | undefined> {
    return this.external[host];
  }
  restoreCommand(d: Destination[]): string {
    return `set ${d.map((x) => `${x.host}=${x.weight}`).join(',')}`;
  }
  serviceOf(host: string): ServiceRef {
    const [name, namespace = 'default'] = host.split('.');
    return { name, namespace };
  }
  hostOf(svc: ServiceRef): string {
    return svc.namespace === 'default' ? svc.name : `${svc.name}.${svc.namespace}.svc.cluster.local`;
  }
}

function world(opts: {
  destinations?: Destination[];
  stableService?: boolean;
  installFails?: boolean;
  verify?: (r: VerifyRequest) => Awaited<ReturnType<RolloutDeps['verify']>>;
  s?: Partial<Settings>;
  releases?: string[];
  /** The Services that exist (default: every one asked for, unless stableService is false). */
  services?: string[];
}) {
  const router = new FakeRouter(opts.destinations ?? [{ host: 'foolish-penguin-sample', weight: 100 }]);
  const calls: string[] = [];
  const warnings: string[] = [];
  /** Everything in order: router writes, helm calls, verifications, sleeps. */
  const events = router.events;
  const requests: VerifyRequest[] = [];
  const releases = new Set(['foolish-penguin', ...(opts.releases ?? [])]);
  const deps: RolloutDeps = {
    settings: settings(opts.s),
    helm: {
      path: '/bin/helm',
      version: 'v4.1.4',
      major: 4,
      install: async (o) => {
        calls.push(`install ${o.release}`);
        events.push(`install ${o.release}`);
        if (opts.installFails) throw new Error('context deadline exceeded');
        releases.add(o.release);
        return { manifest: svcManifest(`${o.release}-sample`) };
      },
      template: async (o) => svcManifest(`${o.release}-sample`),
      uninstall: async (r) => {
        calls.push(`uninstall ${r}`);
        events.push(`uninstall ${r}`);
        releases.delete(r);
      },
      status: async (r) =>
        releases.has(r)
          ? {
              name: r,
              namespace: 'default',
              revision: 1,
              status: 'deployed',
              chart: 'sample-0.1.0',
              appVersion: '1.0',
            }
          : undefined,
      list: async () => [],
      getManifest: async () => '',
    },
    kubectl: {
      path: '/bin/kubectl',
      version: 'v1.35.2',
      get: (async (resource: string, name: string) => {
        // The rollout loop reads routing objects only through its TrafficRouter.
        if (resource.startsWith('virtualservices')) throw new Error(`rollout read ${resource} directly`);
        const exists = opts.services ? opts.services.includes(name) : opts.stableService !== false;
        if (resource === 'services' && exists)
          return { metadata: { name, annotations: { 'meta.helm.sh/release-name': 'foolish-penguin' } } };
        return undefined;
      }) as RolloutDeps['kubectl']['get'],
      list: async () => [],
      listAll: async () => [],
      patchJson: async () => ({}),
      annotate: async () => undefined,
      namespaceLabels: async () => ({ 'istio-injection': 'enabled' }),
      create: async () => {
        throw new Error('rollout created an object directly');
      },
      replace: async () => {
        throw new Error('rollout replaced an object directly');
      },
      delete: async () => false,
      getRaw: async () => {
        throw new Error('rollout read a raw path directly');
      },
    },
    createRouter: () => router,
    verify: async (r) => {
      requests.push(r);
      events.push(`verify ${r.phase ?? 'step'} ${r.weight}`);
      return (
        opts.verify?.(r) ?? { verdict: 'passed', reason: 'ok', total: { requests: 10, good: 10, bad: 0 } }
      );
    },
    log: {
      info: () => undefined,
      warning: (w) => warnings.push(w),
      startGroup: () => undefined,
      endGroup: () => undefined,
    },
    signal: new AbortController().signal,
    // Waits (drain, retry back-off) are recorded, not waited.
    sleep: async (ms) => void events.push(`sleep ${ms}`),
  };
  return { deps, router, calls, warnings, releases, events, requests };
}

describe('runRollout', () => {
  it('steps the weights, promotes and uninstalls the old stable', async () => {
    const w = world({});
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.router.writes.map((d) => d.map((x) => `${x.host}=${x.weight}`).join(','))).toEqual([
      'foolish-penguin-sample=90,sample-v2-sample=10',
      'foolish-penguin-sample=50,sample-v2-sample=50',
      'foolish-penguin-sample=0,sample-v2-sample=100',
      'sample-v2-sample=100',
    ]);
    expect(w.calls).toEqual(['install sample-v2', 'uninstall foolish-penguin']);
    expect(w.router.annotations[Keys.stable]).toBe('sample-v2');
    expect(w.router.annotations[Keys.status]).toBe('promoted');
    expect(r.report.steps.map((s) => s.verdict)).toEqual(['passed', 'passed', 'passed']);
  });

  it('puts 100% back on stable and uninstalls the canary when a step fails', async () => {
    const w = world({
      verify: (r) =>
        r.weight === 50
          ? {
              verdict: 'failed',
              reason: 'canary success rate 0.0% (0/6) is below 99%',
              total: { requests: 6, good: 0, bad: 6 },
            }
          : { verdict: 'passed', reason: 'ok', total: { requests: 5, good: 5, bad: 0 } },
    });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('rolled-back');
    expect(r.reason).toContain('canary success rate 0.0%');
    expect(w.router.destinations).toEqual([{ host: 'foolish-penguin-sample', weight: 100 }]);
    expect(w.calls).toEqual(['install sample-v2', 'uninstall sample-v2']);
    expect(w.router.annotations[Keys.status]).toBe('rolled-back');
    expect(r.weight).toBe(0);
    // The report shows the whole plan: the step not reached is skipped.
    expect(r.report.steps.map((s) => `${s.weight}:${s.verdict}`)).toEqual([
      '10:passed',
      '50:failed',
      '100:skipped',
    ]);
  });

  it('pauses instead when on-failure is pause', async () => {
    const w = world({
      s: { onFailure: 'pause' },
      verify: () => ({
        verdict: 'failed',
        reason: 'p95 900 ms > 200 ms',
        total: { requests: 6, good: 6, bad: 0 },
      }),
    });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('paused');
    expect(r.weight).toBe(10);
    expect(w.calls).toEqual(['install sample-v2']);
    expect(w.router.annotations[Keys.status]).toBe('paused');
  });

  it('leaves traffic untouched when helm install fails', async () => {
    const w = world({ installFails: true });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('failed');
    expect(w.router.writes).toEqual([]);
    expect(w.calls).toEqual(['install sample-v2', 'uninstall sample-v2']);
    expect(r.reason).toContain('Traffic was not changed');
  });

  it('routes everything to the new release on a first deployment', async () => {
    const w = world({ destinations: [] });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.router.writes).toEqual([[{ host: 'sample-v2-sample', weight: 100 }]]);
  });

  it('rolls back when cancelled mid-step, even with on-failure pause', async () => {
    const ac = new AbortController();
    const w = world({
      s: { onFailure: 'pause' },
      verify: (r) => {
        ac.abort(new Error('The run was cancelled (SIGINT).'));
        return {
          verdict: 'cancelled',
          reason: 'The run was cancelled (SIGINT).',
          total: { requests: r.weight, good: 1, bad: 0 },
        };
      },
    });
    w.deps.signal = ac.signal;
    const r = await runRollout(w.deps);
    expect(r.status).toBe('rolled-back');
    expect(w.router.destinations).toEqual([{ host: 'foolish-penguin-sample', weight: 100 }]);
  });

  it('does nothing when the version is already stable', async () => {
    const w = world({});
    w.router.annotations[Keys.stableHost] = 'foolish-penguin-sample';
    w.deps.settings.canaryRelease = 'foolish-penguin';
    const r = await runRollout(w.deps);
    expect(r.status).toBe('unchanged');
    expect(w.calls).toEqual([]);
  });

  it('changes nothing in dry-run', async () => {
    const w = world({ s: { dryRun: true } });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('unchanged');
    expect(w.router.writes).toEqual([]);
    expect(w.calls).toEqual([]);
    expect(r.report.steps.map((s) => s.verdict)).toEqual(['skipped', 'skipped', 'skipped']);
  });

  it('refuses to guess the stable destination of a split route', async () => {
    const w = world({
      destinations: [
        { host: 'a', weight: 60 },
        { host: 'b', weight: 40 },
      ],
    });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(/splits traffic.*Nothing in the cluster was changed/);
    expect(w.calls).toEqual([]);
  });
});

describe('runRollout and its TrafficRouter', () => {
  it('passes the router inspection warnings and owner findings on to the report', async () => {
    const w = world({});
    w.router.inspection = {
      warnings: ['no sidecar here'],
      owners: [
        {
          manager: 'argocd',
          who: 'Argo CD Application "a"',
          detail: 'managed by Argo CD.',
          consequence: 'reverts weights.',
          remedy: 'ignore differences.',
          severity: 'warning',
        },
      ],
    };
    const r = await runRollout(w.deps);
    expect(r.report.warnings).toEqual([
      'no sidecar here',
      'managed by Argo CD. reverts weights. Remedy: ignore differences.',
    ]);
  });

  it('keeps the old stable when another route still references it', async () => {
    const w = world({});
    w.router.otherRoutes = ['"admin"'];
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.calls).not.toContain('uninstall foolish-penguin');
    expect(w.warnings.join('\n')).toMatch(/route\(s\) "admin" of VirtualService "vs" still send traffic/);
  });

  it('keeps the old stable when its release renders the routing object itself', async () => {
    const w = world({});
    w.router.inspection = { owners: [], warnings: [], ownerRelease: 'foolish-penguin' };
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.calls).not.toContain('uninstall foolish-penguin');
    expect(w.warnings.join('\n')).toMatch(/also owns VirtualService "vs"/);
  });

  it('finds the recorded stable through the router state, in another host form', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample.default', weight: 60 },
        { host: 'other-sample', weight: 40 },
      ],
    });
    w.router.annotations[Keys.stableHost] = 'foolish-penguin-sample';
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.router.writes[0].map((d) => `${d.host}=${d.weight}`)).toEqual([
      'foolish-penguin-sample.default=90',
      'sample-v2-sample=10',
    ]);
  });
});

const weightsOf = (ds: Destination[]) => ds.map((x) => `${x.host}=${x.weight}`).join(',');

/** The record a run left on the routing object at `weight`% of `canary`. */
function recorded(w: ReturnType<typeof world>, status: string, weight: number, canary = 'sample-v2') {
  Object.assign(w.router.annotations, {
    [Keys.stable]: 'foolish-penguin',
    [Keys.stableHost]: 'foolish-penguin-sample',
    [Keys.canary]: canary,
    [Keys.canaryHost]: `${canary}-sample`,
    [Keys.status]: status,
    [Keys.weight]: String(weight),
  });
}

describe('operations: manual promotion and the promote / rollback / status commands', () => {
  it('promotion: manual stops verified below 100%, paused, and that is a success', async () => {
    const w = world({ s: { promotion: 'manual' } });
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'paused', ok: true, weight: 50 });
    expect(w.router.writes.map(weightsOf)).toEqual([
      'foolish-penguin-sample=90,sample-v2-sample=10',
      'foolish-penguin-sample=50,sample-v2-sample=50',
    ]);
    expect(w.router.annotations[Keys.status]).toBe('paused');
    expect(r.reason).toMatch(/command: promote/);
    expect(w.calls).toEqual(['install sample-v2']);
  });

  it('command: promote continues from the recorded weight, then promotes and cleans up', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample', weight: 50 },
        { host: 'sample-v2-sample', weight: 50 },
      ],
      releases: ['sample-v2'],
      s: { command: 'promote', canaryRelease: 'sample-v9' },
    });
    recorded(w, 'paused', 50);
    const steps: number[] = [];
    w.deps.verify = async (q) => (
      steps.push(q.weight),
      { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } }
    );
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({
      status: 'promoted',
      ok: true,
      canaryRelease: 'sample-v2',
      stableRelease: 'sample-v2',
    });
    expect(steps).toEqual([100]);
    expect(w.router.writes.map(weightsOf)).toEqual([
      'foolish-penguin-sample=0,sample-v2-sample=100',
      'sample-v2-sample=100',
    ]);
    expect(w.calls).toEqual(['uninstall foolish-penguin']);
    expect(w.router.annotations[Keys.status]).toBe('promoted');
  });

  it('command: promote verifies each remaining step and rolls back a failing one', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample', weight: 90 },
        { host: 'sample-v2-sample', weight: 10 },
      ],
      releases: ['sample-v2'],
      s: { command: 'promote' },
    });
    recorded(w, 'paused', 10);
    w.deps.verify = async () => ({
      verdict: 'failed',
      reason: 'canary 50% bad',
      total: { requests: 4, good: 2, bad: 2 },
    });
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'rolled-back', ok: false });
    expect(weightsOf(w.router.destinations)).toBe('foolish-penguin-sample=100');
    expect(w.calls).toEqual(['uninstall sample-v2']);
    expect(r.report.steps.map((x) => `${x.weight}:${x.verdict}`)).toEqual(['50:failed', '100:skipped']);
  });

  it('command: rollback puts 100% on stable, uninstalls the canary, and that is a success', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample', weight: 75 },
        { host: 'sample-v2-sample', weight: 25 },
      ],
      releases: ['sample-v2'],
      s: { command: 'rollback' },
    });
    recorded(w, 'progressing', 25);
    w.router.pinned = 'sample-v2';
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'rolled-back', ok: true, weight: 0 });
    expect(weightsOf(w.router.destinations)).toBe('foolish-penguin-sample=100');
    expect(w.router.pinned).toBeUndefined();
    expect(w.calls).toEqual(['uninstall sample-v2']);
    expect(w.router.annotations[Keys.status]).toBe('rolled-back');
    expect(r.reason).toMatch(/^All traffic is back on foolish-penguin; sample-v2 was uninstalled\.$/);
  });

  it.each([
    [
      'no record',
      undefined,
      /nothing to promote: VirtualService "vs" records no unfinished rollout\. Nothing in the cluster was changed\.$/,
    ],
    [
      'a promoted one',
      'promoted',
      /already promoted\. To go back to an older version, re-run the rollout of that version/,
    ],
    ['a rolled-back one', 'rolled-back', /records no unfinished rollout \(its last rollout is rolled-back\)/],
  ])('command: promote with %s fails clearly and writes nothing', async (_n, status, message) => {
    const w = world({ s: { command: 'promote' } });
    if (status) recorded(w, status, status === 'promoted' ? 100 : 0);
    const before = { ...w.router.annotations };
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'failed', ok: false });
    expect(r.reason).toMatch(message);
    expect(w.router.writes).toEqual([]);
    expect(w.router.annotations).toEqual(before);
    expect(w.calls).toEqual([]);
  });

  it('command: status reports the recorded state and changes nothing, not even a lock', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample', weight: 75 },
        { host: 'sample-v2-sample', weight: 25 },
      ],
      releases: ['sample-v2'],
      s: { command: 'status' },
    });
    recorded(w, 'paused', 25);
    const before = { ...w.router.annotations };
    let locked = 0;
    w.deps.lock = { acquire: async () => (locked++, { release: async () => undefined }) };
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({
      status: 'paused',
      ok: true,
      weight: 25,
      canaryRelease: 'sample-v2',
      stableRelease: 'foolish-penguin',
    });
    expect(locked).toBe(0);
    expect(w.router.writes).toEqual([]);
    expect(w.router.annotations).toEqual(before);
  });

  it('command: status with nothing recorded is "none"; a stale record is said to be stale', async () => {
    const none = await runRollout(world({ s: { command: 'status' } }).deps);
    expect(none).toMatchObject({ status: 'none', ok: true });
    const w = world({ s: { command: 'status' } });
    recorded(w, 'progressing', 10);
    const r = await runRollout(w.deps);
    expect(r.status).toBe('progressing');
    expect(r.reason).toMatch(/The record is stale: release sample-v2 no longer exists/);
  });
});

describe('operations: one rollout at a time, nobody overwritten, the record follows the cluster', () => {
  it('takes the lock before the first write and releases it; a refused lock writes nothing', async () => {
    const events: string[] = [];
    const w = world({});
    w.deps.lock = {
      acquire: async () => (
        events.push(`lock after ${w.calls.length} calls`),
        { release: async () => void events.push('release') }
      ),
    };
    await runRollout(w.deps);
    expect(events).toEqual(['lock after 0 calls', 'release']);

    const w2 = world({});
    w2.deps.lock = {
      acquire: async () => {
        throw new Error('VirtualService "vs" is locked by https://github.example/acme/shop/actions/runs/7.');
      },
    };
    const r = await runRollout(w2.deps);
    expect(r).toMatchObject({ status: 'failed', ok: false });
    expect(r.reason).toMatch(
      /locked by https:\/\/github.example\/acme\/shop\/actions\/runs\/7\. Nothing in the cluster was changed\./,
    );
    expect(w2.calls).toEqual([]);
    expect(w2.router.writes).toEqual([]);
  });

  it('an operator setting 100% stable mid-bake stops the run; the route stays as they left it', async () => {
    const w = world({});
    w.deps.routeCheckMs = 5;
    w.deps.verify = (q) =>
      new Promise((resolve) => {
        // the operator's kubectl patch during the bake
        w.router.destinations = [{ host: 'foolish-penguin-sample', weight: 100 }];
        w.router.changedBy = 'field manager "kubectl-patch"';
        q.signal.addEventListener('abort', () =>
          resolve({ verdict: 'cancelled', reason: 'stopped', total: { requests: 0, good: 0, bad: 0 } }),
        );
      });
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'failed', ok: false, weight: 0 });
    expect(w.router.writes.map(weightsOf)).toEqual(['foolish-penguin-sample=90,sample-v2-sample=10']);
    expect(weightsOf(w.router.destinations)).toBe('foolish-penguin-sample=100');
    expect(r.reason).toMatch(/changed during the step.*kubectl-patch.*did not write the weights again/);
    expect(w.calls).toEqual(['install sample-v2', 'uninstall sample-v2']); // it had 0%
  });

  it('an operator change that still gives the canary weight leaves the canary installed', async () => {
    const w = world({});
    w.deps.verify = async () => {
      w.router.destinations = [
        { host: 'foolish-penguin-sample', weight: 70 },
        { host: 'sample-v2-sample', weight: 30 },
      ];
      return { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } };
    };
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'failed', ok: false, weight: 30 });
    expect(w.router.writes).toHaveLength(1);
    expect(w.calls).toEqual(['install sample-v2']);
    expect(r.reason).toMatch(/sample-v2 still gets 30%, so it was left installed/);
  });

  it('a stale record (canary gone, 100% stable) is cleared with a note instead of blocking', async () => {
    const w = world({});
    recorded(w, 'progressing', 10, 'sample-v1');
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(r.report.warnings.join('\n')).toMatch(
      /records a rollout of "sample-v1".*no longer exists.*stale record is cleared/,
    );
  });

  it('a newer version rolls the superseded paused canary back first, saying so, then proceeds', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample', weight: 80 },
        { host: 'sample-v1-sample', weight: 20 },
      ],
      releases: ['sample-v1'],
    });
    recorded(w, 'paused', 20, 'sample-v1');
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.router.writes[0].map((d) => `${d.host}=${d.weight}`)).toEqual(['foolish-penguin-sample=100']);
    expect(w.calls.slice(0, 2)).toEqual(['uninstall sample-v1', 'install sample-v2']);
    expect(r.report.warnings.join('\n')).toMatch(
      /Rolling back the unfinished rollout of sample-v1 \(at 20%\) first: it is superseded by sample-v2/,
    );
  });

  it('the same version left half-way by a dead runner is reported with what to do', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample', weight: 75 },
        { host: 'sample-v2-sample', weight: 25 },
      ],
      releases: ['sample-v2'],
    });
    recorded(w, 'progressing', 25);
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'failed', ok: false });
    expect(r.reason).toMatch(
      /progressing at 25%, which did not finish\. Continue it with command: promote, or undo it with command: rollback/,
    );
    expect(w.router.writes).toEqual([]);
  });

  it('API 5xx while restoring are retried until the route is back on stable', async () => {
    const sleeps: number[] = [];
    const w = world({
      verify: () => ({ verdict: 'failed', reason: 'bad', total: { requests: 1, good: 0, bad: 1 } }),
    });
    w.deps.sleep = async (ms) => void sleeps.push(ms);
    const orig = w.router.setRoutes.bind(w.router);
    let n = 0;
    w.router.setRoutes = async (d, g) => {
      if (++n >= 2 && n <= 4) throw new Error('Error from server (InternalError): 503 Service Unavailable');
      return orig(d, g);
    };
    const r = await runRollout(w.deps);
    expect(r.status).toBe('rolled-back');
    expect(weightsOf(w.router.destinations)).toBe('foolish-penguin-sample=100');
    expect(sleeps).toEqual([200, 400, 800]);
    expect(w.calls).toEqual(['install sample-v2', 'uninstall sample-v2']);
  });

  it('a restore that cannot be written never uninstalls the canary and says how to restore by hand', async () => {
    const w = world({
      verify: () => ({ verdict: 'failed', reason: 'bad', total: { requests: 1, good: 0, bad: 1 } }),
    });
    w.deps.sleep = async () => undefined;
    const orig = w.router.setRoutes.bind(w.router);
    let n = 0;
    w.router.setRoutes = async (d, g) => {
      if (++n >= 2) throw new Error('admission webhook denied the request');
      return orig(d, g);
    };
    const r = await runRollout(w.deps);
    expect(r.status).toBe('failed');
    expect(w.calls).toEqual(['install sample-v2']);
    expect(r.reason).toMatch(/Restore the route with: set foolish-penguin-sample=100/);
  });

  it('the comment update after a weight change does not delay the verification', async () => {
    const order: string[] = [];
    const w = world({});
    w.deps.onUpdate = (_r, final) =>
      final ? undefined : new Promise<void>(() => order.push('update started'));
    w.deps.verify = async (q) => (
      order.push(`verify ${q.weight}`),
      { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } }
    );
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(order.filter((x) => x.startsWith('verify'))).toEqual(['verify 10', 'verify 50', 'verify 100']);
  });

  it('a report write that hangs never holds up the end of the run, nor changes its outcome', async () => {
    const w = world({});
    w.deps.reportTimeoutMs = 20;
    w.deps.onUpdate = () => new Promise<void>(() => undefined); // GitHub never answers
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'promoted', ok: true });
    expect(w.warnings.join('\n')).toMatch(/report update is taking too long/);
  });

  it('a report write that fails only warns', async () => {
    const w = world({});
    w.deps.onUpdate = async () => {
      throw new Error('HTTP 502 from api.github.com');
    };
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'promoted', ok: true });
    expect(w.warnings.join('\n')).toMatch(/Report update failed: HTTP 502/);
  });
});

/** Settings of a run that probes verify-url, with issue 9's waits. */
const probing = (over: Partial<Settings> = {}): Partial<Settings> => ({
  verify: {
    url: 'http://gateway.example/healthz',
    headers: {},
    statuses: [[200, 399]],
    rps: 5,
    timeoutMs: 5000,
    successRate: 0.99,
  },
  precheckMs: 30_000,
  canaryHeader: 'x-canary',
  settleMs: 2000,
  drainMs: 10_000,
  steps: [
    { weight: 10, bakeMs: 10, maxBakeMs: 30 },
    { weight: 50, bakeMs: 20, maxBakeMs: 60 },
    { weight: 100, bakeMs: 10, maxBakeMs: 30 },
  ],
  ...over,
});
const failed = (reason: string) => ({
  verdict: 'failed' as const,
  reason,
  total: { requests: 10, good: 0, bad: 10 },
});
const PIN = 'pin x-canary: sample-v2 -> sample-v2-sample';

describe('issue 9: verification you can trust', () => {
  it('probes the stable, installs, pins, checks before any user weight, steps, promotes, unpins, drains', async () => {
    const w = world({ s: probing() });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.events).toEqual([
      'verify baseline 0',
      'install sample-v2',
      PIN,
      'verify precheck 0',
      'route foolish-penguin-sample=90,sample-v2-sample=10',
      'verify step 10',
      'route foolish-penguin-sample=50,sample-v2-sample=50',
      'verify step 50',
      'route foolish-penguin-sample=0,sample-v2-sample=100',
      'verify step 100',
      'route sample-v2-sample=100',
      'unpin',
      'sleep 10000',
      'uninstall foolish-penguin',
    ]);
    const [baseline, precheck, ...steps] = w.requests;
    expect(baseline).toMatchObject({ phase: 'baseline', reachabilityOnly: false });
    expect(precheck).toMatchObject({
      phase: 'precheck',
      weight: 0,
      bakeMs: 30_000,
      maxBakeMs: 90_000,
      settleMs: 2000,
      pin: { header: 'x-canary', value: 'sample-v2' },
    });
    expect(steps.map((q) => [q.weight, q.bakeMs, q.maxBakeMs, q.settleMs, q.pin?.value])).toEqual([
      [10, 10, 30, 2000, 'sample-v2'],
      [50, 20, 60, 2000, 'sample-v2'],
      [100, 10, 30, 2000, 'sample-v2'],
    ]);
    expect(w.router.pins[0].destination).toEqual({ host: 'sample-v2-sample' });
    expect(r.report.baseline).toMatchObject({ verdict: 'passed' });
    expect(r.report.steps.map((x) => `${x.kind ?? 'step'} ${x.index} ${x.weight}:${x.verdict}`)).toEqual([
      'precheck -1 0:passed',
      'step 0 10:passed',
      'step 1 50:passed',
      'step 2 100:passed',
    ]);
    expect(w.router.pinned).toBeUndefined();
  });

  it('a broken verification setup stops the run before any write, lock or install', async () => {
    const w = world({
      s: probing(),
      verify: (q) =>
        q.phase === 'baseline'
          ? failed(
              'verify-url http://gateway.example/healthz refused the connection (ECONNREFUSED, 3 of 3 probes)',
            )
          : { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } },
    });
    let locked = 0;
    w.deps.lock = { acquire: async () => (locked++, { release: async () => undefined }) };
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'failed', ok: false, weight: 0 });
    expect(r.reason).toBe(
      'The baseline check failed before anything was installed: verify-url http://gateway.example/healthz refused ' +
        'the connection (ECONNREFUSED, 3 of 3 probes). The verification setup is broken, not the canary. ' +
        'Nothing in the cluster was changed.',
    );
    expect(w.events).toEqual(['verify baseline 0']);
    expect(locked).toBe(0);
    expect(w.router.annotations).toEqual({});
    expect(r.report.baseline).toMatchObject({ verdict: 'failed' });
  });

  it('a canary failing the pre-traffic check never gets user weight: unpinned, uninstalled, no drain', async () => {
    const w = world({
      s: probing(),
      verify: (q) =>
        q.phase === 'precheck'
          ? failed('canary success rate 0.0% (0/3) is conclusively below 99%')
          : { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } },
    });
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'rolled-back', ok: false, weight: 0 });
    expect(w.events).toEqual([
      'verify baseline 0',
      'install sample-v2',
      PIN,
      'verify precheck 0',
      'unpin',
      'uninstall sample-v2',
    ]);
    expect(w.router.writes).toEqual([]);
    expect(r.reason).toBe(
      'The pre-traffic check failed: canary success rate 0.0% (0/3) is ' +
        'conclusively below 99%. No user traffic reached sample-v2; sample-v2 was uninstalled.',
    );
    expect(r.report.steps.map((x) => `${x.kind ?? 'step'} ${x.weight}:${x.verdict}`)).toEqual([
      'precheck 0:failed',
      'step 10:skipped',
      'step 50:skipped',
      'step 100:skipped',
    ]);
    expect(w.router.annotations[Keys.status]).toBe('rolled-back');
  });

  it('precheck 0s: no pre-traffic probes, but the pinned route serves the steps’ pinned probes', async () => {
    const w = world({ s: probing({ precheckMs: 0 }) });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.events.slice(0, 4)).toEqual([
      'verify baseline 0',
      'install sample-v2',
      PIN,
      'route foolish-penguin-sample=90,sample-v2-sample=10',
    ]);
    expect(w.requests.filter((q) => q.phase === 'precheck')).toEqual([]);
    expect(r.report.steps.some((x) => x.kind === 'precheck')).toBe(false);
  });

  it('a failed step: weights back first, then unpinned and the record, then drained, then uninstalled', async () => {
    const w = world({ s: probing(), verify: (q) => (q.weight === 50 ? failed('canary 0%') : undefined)! });
    w.deps.verify = async (q) => {
      w.events.push(`verify ${q.phase ?? 'step'} ${q.weight}`);
      return q.weight === 50
        ? failed('canary 0%')
        : { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } };
    };
    const r = await runRollout(w.deps);
    expect(r.status).toBe('rolled-back');
    expect(w.events.slice(-5)).toEqual([
      'verify step 50',
      'route foolish-penguin-sample=100',
      'unpin',
      'sleep 10000',
      'uninstall sample-v2',
    ]);
  });

  it('cancelled mid-step: restored and unpinned at once, no drain (the runner kills the job soon)', async () => {
    const ac = new AbortController();
    const w = world({ s: probing() });
    w.deps.signal = ac.signal;
    w.deps.verify = async (q) => {
      w.events.push(`verify ${q.phase ?? 'step'} ${q.weight}`);
      if (q.weight !== 10)
        return { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } };
      ac.abort(new Error('The run was cancelled (SIGTERM).'));
      return { verdict: 'cancelled', reason: 'cancelled', total: { requests: 1, good: 1, bad: 0 } };
    };
    const r = await runRollout(w.deps);
    expect(r.status).toBe('rolled-back');
    expect(w.events.slice(-4)).toEqual([
      'verify step 10',
      'route foolish-penguin-sample=100',
      'unpin',
      'uninstall sample-v2',
    ]);
  });

  it('a pause (manual promotion or on-failure) leaves no pinned route behind', async () => {
    const manual = world({ s: probing({ promotion: 'manual' }) });
    expect((await runRollout(manual.deps)).status).toBe('paused');
    expect(manual.events).toContain(PIN);
    expect(manual.events[manual.events.length - 1]).toBe('unpin');
    expect(manual.router.pinned).toBeUndefined();

    const onFailure = world({ s: probing({ onFailure: 'pause' }) });
    onFailure.deps.verify = async (q) =>
      q.weight === 10
        ? failed('bad')
        : { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } };
    expect((await runRollout(onFailure.deps)).status).toBe('paused');
    expect(onFailure.router.pinned).toBeUndefined();
    expect(onFailure.calls).toEqual(['install sample-v2']);
  });

  it('command: promote pins again for its steps and unpins at the promotion', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample', weight: 50 },
        { host: 'sample-v2-sample', weight: 50 },
      ],
      releases: ['sample-v2'],
      s: probing({ command: 'promote' }),
    });
    recorded(w, 'paused', 50);
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.events[0]).toBe(PIN);
    expect(w.requests.map((q) => [q.phase ?? 'step', q.weight, q.pin?.value])).toEqual([
      ['step', 100, 'sample-v2'],
    ]);
    expect(w.events).toContain('unpin');
    expect(w.router.pinned).toBeUndefined();
  });

  it('the post step after a run killed during its pre-traffic check unpins and uninstalls', async () => {
    const w = world({ releases: ['sample-v2'], s: probing() });
    recorded(w, 'progressing', 0);
    w.router.annotations[Keys.runUrl] = 'https://github.example/acme/shop/actions/runs/42';
    w.deps.runUrl = 'https://github.example/acme/shop/actions/runs/42';
    w.router.pinned = 'sample-v2';
    const r = await runRecovery(w.deps);
    expect(r.status).toBe('rolled-back');
    expect(w.router.pinned).toBeUndefined();
    expect(w.router.writes).toEqual([]); // it never had user weight: nothing to restore
    expect(w.calls).toEqual(['uninstall sample-v2']);
  });

  it('first deployment: only reachability before, pre-traffic check, 100% verified like the plan’s last step, then promoted', async () => {
    const w = world({ destinations: [{ host: 'nothing-here', weight: 100 }], services: [], s: probing() });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(r.reason).toMatch(
      /^First deployment: sample-v2 installed, given 100% of route #0 and verified there\.$/,
    );
    expect(w.events).toEqual([
      'verify baseline 0',
      'install sample-v2',
      PIN,
      'verify precheck 0',
      'route sample-v2-sample=100',
      'verify step 100',
      'unpin',
    ]);
    expect(w.requests[0].reachabilityOnly).toBe(true);
    expect(w.requests[2]).toMatchObject({ phase: 'step', weight: 100, bakeMs: 10, maxBakeMs: 30 });
    expect(r.report.steps.map((x) => `${x.kind ?? 'step'} ${x.weight}:${x.verdict}`)).toEqual([
      'precheck 0:passed',
      'step 100:passed',
    ]);
  });

  it('first deployment failing at 100%: the route goes back as it was, drained, uninstalled', async () => {
    const w = world({ destinations: [{ host: 'nothing-here', weight: 100 }], services: [], s: probing() });
    w.deps.verify = async (q) => {
      w.events.push(`verify ${q.phase ?? 'step'} ${q.weight}`);
      return q.weight === 100
        ? failed('success rate 80%')
        : { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } };
    };
    const r = await runRollout(w.deps);
    expect(r.status).toBe('failed');
    expect(w.events.slice(-5)).toEqual([
      'verify step 100',
      'route nothing-here=100',
      'unpin',
      'sleep 10000',
      'uninstall sample-v2',
    ]);
    expect(r.reason).toMatch(
      /The route is back as it was \(nothing-here 100%\); sample-v2 was uninstalled\.$/,
    );
  });

  it('an external stable (a ServiceEntry host, an external name) stops the run before any write', async () => {
    for (const host of ['api.example.com', 'legacy.payments']) {
      const w = world({ destinations: [{ host, weight: 100 }], services: [], s: probing() });
      w.router.external[host] =
        `"${host}" is declared by ServiceEntry "mesh/legacy" (a service outside the Service registry)`;
      const r = await runRollout(w.deps);
      expect(r).toMatchObject({ status: 'failed', ok: false });
      expect(r.reason).toMatch(
        new RegExp(
          `sends traffic to "${host.replace(/\./g, '\\.')}" is declared by ServiceEntry.*will not cut users over.*Nothing in the cluster was changed\\.$`,
        ),
      );
      expect(w.events).toEqual([]);
      expect(w.router.annotations).toEqual({});
    }
  });

  it('a missing live Service beside one that exists is no first deployment either', async () => {
    const w = world({
      destinations: [
        { host: 'gone', weight: 100 },
        { host: 'other-sample', weight: 0 },
      ],
      services: ['other-sample'],
      s: probing(),
    });
    const r = await runRollout(w.deps);
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(
      /sends 100% to "gone", which has no Service, but also lists "other-sample", which has one/,
    );
    expect(w.events).toEqual([]);
  });

  it('a superseded canary with user weight is rolled back before the stable is probed', async () => {
    const w = world({
      destinations: [
        { host: 'foolish-penguin-sample', weight: 80 },
        { host: 'sample-v1-sample', weight: 20 },
      ],
      releases: ['sample-v1'],
      s: probing(),
    });
    recorded(w, 'paused', 20, 'sample-v1');
    const r = await runRollout(w.deps);
    expect(r.status).toBe('promoted');
    expect(w.events.slice(0, 4)).toEqual([
      'route foolish-penguin-sample=100',
      'uninstall sample-v1',
      'verify baseline 0',
      'install sample-v2',
    ]);
  });

  it('someone else’s route change that still gives the canary weight: weights left alone, the pinned route removed', async () => {
    const w = world({ s: probing() });
    w.deps.verify = async (q) => {
      if (q.phase === 'step')
        w.router.destinations = [
          { host: 'foolish-penguin-sample', weight: 70 },
          { host: 'sample-v2-sample', weight: 30 },
        ];
      return { verdict: 'passed', reason: 'ok', total: { requests: 1, good: 1, bad: 0 } };
    };
    const r = await runRollout(w.deps);
    expect(r).toMatchObject({ status: 'failed', weight: 30 });
    expect(w.router.writes).toHaveLength(1);
    expect(w.router.pinned).toBeUndefined();
    expect(w.calls).toEqual(['install sample-v2']);
  });

  it('without verify-url or verify-command the report says it was not verified', async () => {
    const r = await runRollout(world({}).deps);
    expect(r.report.unverified).toBe(true);
    const probed = await runRollout(world({ s: probing() }).deps);
    expect(probed.report.unverified).toBeUndefined();
  });
});
