import { describe, it, expect } from '@jest/globals';
import { runRollout, type RolloutDeps } from '../../src/rollout/rollout.js';
import type { VerifyRequest } from '../../src/verify/verifier.js';
import {
  compareDestinations,
  RouteChangedError,
  type Destination,
  type Inspection,
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
    this.destinations = d;
    return this.getRoutes();
  }
  async setState(a: Record<string, string | null>): Promise<void> {
    for (const [k, v] of Object.entries(a)) {
      if (v === null) delete this.annotations[k];
      else this.annotations[k] = v;
    }
  }
  async setPinnedRoute(p: { value: string }): Promise<void> {
    this.pinned = p.value;
  }
  async removePinnedRoute(): Promise<boolean> {
    const had = this.pinned !== undefined;
    this.pinned = undefined;
    return had;
  }
  async references(): Promise<string[]> {
    return this.otherRoutes;
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
}) {
  const router = new FakeRouter(opts.destinations ?? [{ host: 'foolish-penguin-sample', weight: 100 }]);
  const calls: string[] = [];
  const warnings: string[] = [];
  const releases = new Set(['foolish-penguin', ...(opts.releases ?? [])]);
  const deps: RolloutDeps = {
    settings: settings(opts.s),
    helm: {
      path: '/bin/helm',
      version: 'v4.1.4',
      major: 4,
      install: async (o) => {
        calls.push(`install ${o.release}`);
        if (opts.installFails) throw new Error('context deadline exceeded');
        releases.add(o.release);
        return { manifest: svcManifest(`${o.release}-sample`) };
      },
      template: async (o) => svcManifest(`${o.release}-sample`),
      uninstall: async (r) => {
        calls.push(`uninstall ${r}`);
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
        if (resource === 'services' && opts.stableService !== false)
          return { metadata: { name, annotations: { 'meta.helm.sh/release-name': 'foolish-penguin' } } };
        return undefined;
      }) as RolloutDeps['kubectl']['get'],
      list: async () => [],
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
    },
    createRouter: () => router,
    verify: async (r) =>
      opts.verify?.(r) ?? { verdict: 'passed', reason: 'ok', total: { requests: 10, good: 10, bad: 0 } },
    log: {
      info: () => undefined,
      warning: (w) => warnings.push(w),
      startGroup: () => undefined,
      endGroup: () => undefined,
    },
    signal: new AbortController().signal,
  };
  return { deps, router, calls, warnings, releases };
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
