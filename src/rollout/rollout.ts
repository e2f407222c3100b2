// The rollout loop: install the canary beside the stable release, step the weights with
// verification, then promote or put all traffic back on stable. It talks to the cluster only
// through IHelm, IKubectl and a TrafficRouter, and knows nothing about YAML or HTTP.
import type { IHelm } from '../kube/helm-helper.js';
import type { IKubectl } from '../kube/kubectl-helper.js';
import {
  describeDestinations,
  sameService,
  type Destination,
  type RouteSnapshot,
  type TrafficRouter,
} from '../router/router.js';
import type { Logger, Settings, VersionFigures } from '../lib/types.js';
import type { Outcome, RunReport, StepReport } from '../report/model.js';
import type { VerifyFn } from '../verify/verifier.js';
import { readState, stateAnnotations, type RolloutState } from './state.js';
import { chartOf, chooseCanaryService, stepDestinations } from './plan.js';

export interface RolloutDeps {
  settings: Settings;
  helm: IHelm;
  kubectl: IKubectl;
  /** The router of the routing object; `stableHostOf` reads the recorded stable from its state. */
  createRouter: (o: { stableHostOf: (state: Record<string, string>) => string | undefined }) => TrafficRouter;
  verify: VerifyFn;
  log: Logger;
  /** Aborted on cancellation (SIGINT/SIGTERM) or when `timeout` is reached. */
  signal: AbortSignal;
  runUrl?: string;
  /** Called after every state change so reports (PR comment) can follow live. */
  onUpdate?: (report: RunReport, final: boolean) => Promise<void> | void;
  now?: () => number;
}

export interface RolloutResult {
  status: Exclude<Outcome, 'running'>;
  reason: string;
  stableRelease?: string;
  canaryRelease: string;
  weight: number;
  report: RunReport;
}

/** An error that ends the run before anything in the cluster changed. */
export class PreflightError extends Error {}

class StepFailure extends Error {
  constructor(
    message: string,
    readonly cancelled = false,
  ) {
    super(message);
  }
}

export async function runRollout(deps: RolloutDeps): Promise<RolloutResult> {
  return new Rollout(deps).run();
}

class Rollout {
  private readonly s: Settings;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly report: RunReport;
  private readonly router: TrafficRouter;
  private stable?: Destination;
  private stableRelease?: string;
  private stableReleaseNamespace?: string;
  private canary!: Destination;
  private weight = 0;
  private installed = false;
  /** Helm release that renders the routing object itself, if any: never uninstalled by cleanup. */
  private routerOwnerRelease?: string;

  constructor(private readonly deps: RolloutDeps) {
    this.s = deps.settings;
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    this.router = deps.createRouter({ stableHostOf: (st) => readState(st).stableHost });
    this.report = {
      command: 'rollout',
      namespace: this.s.namespace,
      release: this.s.release,
      routing: { kind: this.router.kind, name: this.router.name },
      stable: {},
      canary: { release: this.s.canaryRelease, chart: this.s.chart, chartVersion: this.s.chartVersion },
      outcome: 'running',
      reason: 'The rollout is starting.',
      startedAt: new Date(this.now()).toISOString(),
      steps: [],
      warnings: [],
      runUrl: deps.runUrl,
      dryRun: this.s.dryRun,
      helmVersion: deps.helm.version,
      kubectlVersion: deps.kubectl.version,
    };
  }

  async run(): Promise<RolloutResult> {
    let first: 'go' | 'unchanged';
    try {
      first = await this.preflight();
    } catch (err) {
      return this.finish('failed', `${sentence(msg(err))} Nothing in the cluster was changed.`);
    }
    if (first === 'unchanged') return this.finish('unchanged', this.report.reason);
    if (this.s.dryRun) return this.finish('unchanged', this.report.reason);

    try {
      await this.install();
      if (!this.stable) return await this.firstDeployment();
      for (let i = 0; i < this.s.steps.length; i++) await this.step(i);
      return await this.promote();
    } catch (err) {
      return this.fail(err);
    }
  }

  // ---- preflight: reads only; every problem found here ends the run before any write ----

  private async preflight(): Promise<'go' | 'unchanged'> {
    const { kubectl, helm } = this.deps;
    const s = this.s;
    this.log.info(`helm ${helm.version} (${helm.path}), kubectl ${kubectl.version} (${kubectl.path})`);

    const router = this.router;
    const inspection = await router.inspect();
    for (const w of inspection.warnings) this.warn(w);
    this.routerOwnerRelease = inspection.ownerRelease;
    const snap = await router.getRoutes();
    const state = readState(snap.state);
    this.report.route = snap.route;
    this.log.info(
      `${router.kind} ${router.namespace}/${router.name}, route ${this.report.route}: ${describeDestinations(snap.destinations)}`,
    );

    for (const f of inspection.owners) {
      const text = `${f.detail} ${f.consequence} Remedy: ${f.remedy}`;
      if (f.severity === 'warning') this.warn(text);
      else this.log.info(text);
    }

    if (state.status === 'progressing' || state.status === 'paused') {
      if (state.canaryRelease && state.canaryRelease !== s.canaryRelease) {
        throw new PreflightError(
          `${router.kind} "${router.name}" records a rollout of "${state.canaryRelease}" that is ${state.status} ` +
            `at ${state.weight ?? '?'}%. Finish it first: put 100% back on the stable release and uninstall ` +
            `"${state.canaryRelease}" (or promote it), then run again.`,
        );
      }
    }

    // Which destination is live now?
    this.stable = await this.findStable(snap, state);
    if (this.stable) {
      const svc = router.serviceOf(this.stable.host);
      const svcObj = await kubectl.get('services', svc.name, svc.namespace);
      if (!svcObj) {
        this.warn(
          `The route's destination "${this.stable.host}" has no Service; treating this as a first deployment.`,
        );
        this.stable = undefined;
      } else {
        const ann = svcObj.metadata?.annotations ?? {};
        this.stableRelease = ann['meta.helm.sh/release-name'] || state.stableRelease;
        this.stableReleaseNamespace = ann['meta.helm.sh/release-namespace'] || svc.namespace;
        this.report.stable = { release: this.stableRelease, service: this.stable.host };
        if (this.stableRelease) {
          const info = await helm.status(this.stableRelease, this.stableReleaseNamespace ?? s.namespace);
          if (info) Object.assign(this.report.stable, chartOf(info.chart), { appVersion: info.appVersion });
        }
      }
    }

    if (this.stableRelease === s.canaryRelease) {
      this.report.reason = `Release "${s.canaryRelease}" already receives all traffic; nothing to do.`;
      return 'unchanged';
    }

    const existing = await helm.status(s.canaryRelease, s.namespace);
    if (existing) {
      throw new PreflightError(
        `Helm release "${s.canaryRelease}" already exists in namespace "${s.namespace}" (status ${existing.status}) ` +
          `and is not the stable release. Uninstall it (helm uninstall ${s.canaryRelease} -n ${s.namespace}) ` +
          `or roll out another version.`,
      );
    }

    // Render the chart once without touching the cluster: catches a missing chart or bad values,
    // and tells which Service will receive the canary traffic.
    const manifest = await helm.template(this.installOptions());
    const svc = chooseCanaryService(manifest, s.service, this.stable?.port);
    this.canary = {
      host: router.hostOf({ name: svc.name, namespace: svc.namespace ?? s.namespace }),
      port: svc.port,
      weight: 0,
    };
    if (this.stable && sameService(router, this.stable.host, this.canary.host)) {
      throw new PreflightError(
        `The new release would render Service "${svc.name}", the one the stable release already serves; ` +
          `a canary needs its own Service (its name should include the release name).`,
      );
    }
    this.report.canary.service = this.canary.host;

    const plan = this.stable
      ? s.steps.map((st) => `${st.weight}%`).join(' → ') + ' then promote'
      : 'first deployment: install and route 100%';
    this.log.info(
      `Plan: stable ${this.stableRelease ?? '(not a Helm release)'} (${this.stable?.host ?? 'none'}) → ` +
        `canary ${s.canaryRelease} (${this.canary.host}); ${plan}.`,
    );
    if (s.dryRun) {
      for (const st of this.stable ? s.steps : [{ weight: 100, bakeMs: 0 }]) {
        const d = stepDestinations(this.stable, this.canary, st.weight);
        this.log.info(`dry-run: would set route ${this.report.route} to ${describeDestinations(d)}`);
      }
      this.report.reason = `Dry run: nothing was changed; the plan above is what a real run would do.`;
    }
    return 'go';
  }

  private async findStable(snap: RouteSnapshot, state: RolloutState): Promise<Destination | undefined> {
    const live = snap.destinations.filter((d) => d.weight > 0);
    if (state.stableHost) {
      const d = snap.destinations.find((x) => sameService(this.router, x.host, state.stableHost!));
      if (d) return d;
    }
    if (snap.destinations.length === 0) return undefined;
    if (live.length === 1) return live[0];
    if (snap.destinations.length === 1) return snap.destinations[0];
    throw new PreflightError(
      `Route ${this.report.route} of ${this.router.kind} "${this.router.name}" splits traffic ` +
        `(${describeDestinations(snap.destinations)}) and no earlier helm-canary run recorded which one is stable. ` +
        `Put 100% on the stable Service first.`,
    );
  }

  private installOptions() {
    const s = this.s;
    return {
      release: s.canaryRelease,
      chart: s.chart!,
      chartVersion: s.chartVersion,
      namespace: s.namespace,
      valuesFiles: s.valuesFiles,
      set: s.set,
      extraArgs: s.helmArgs,
      timeoutMs: s.helmTimeoutMs,
    };
  }

  // ---- writes ----

  private async install(): Promise<void> {
    this.log.startGroup(`Install ${this.s.canaryRelease}`);
    try {
      this.checkAborted();
      const { manifest } = await this.deps.helm.install(this.installOptions());
      this.installed = true;
      // The Service we route to is taken from what was really installed.
      const svc = chooseCanaryService(manifest, this.s.service, this.stable?.port);
      this.canary.host = this.router.hostOf({ name: svc.name, namespace: svc.namespace ?? this.s.namespace });
      this.log.info(`Installed ${this.s.canaryRelease}; it serves ${this.canary.host}.`);
      const info = await this.deps.helm.status(this.s.canaryRelease, this.s.namespace).catch(() => undefined);
      if (info) Object.assign(this.report.canary, chartOf(info.chart), { appVersion: info.appVersion });
    } catch (err) {
      if (!this.installed) {
        // helm's rollback-on-failure already removes a failed install; make sure nothing is left.
        await this.deps.helm.uninstall(this.s.canaryRelease, this.s.namespace).catch(() => undefined);
        throw new StepFailure(`helm install of ${this.s.canaryRelease} failed: ${msg(err)}`);
      }
      throw err;
    } finally {
      this.log.endGroup();
    }
    await this.saveState({ status: 'progressing', weight: 0 });
    await this.update(false);
  }

  private async firstDeployment(): Promise<RolloutResult> {
    await this.router.setRoutes(stepDestinations(undefined, this.canary, 100));
    this.weight = 100;
    await this.saveState({
      status: 'promoted',
      weight: 100,
      stableRelease: this.s.canaryRelease,
      stableHost: this.canary.host,
      canaryRelease: undefined,
      canaryHost: undefined,
    });
    return this.finish(
      'promoted',
      `First deployment: ${this.s.canaryRelease} installed and given 100% of route ${this.report.route}.`,
    );
  }

  private async step(i: number): Promise<void> {
    const st = this.s.steps[i];
    const n = this.s.steps.length;
    this.checkAborted();
    const rep: StepReport = {
      index: i,
      weight: st.weight,
      bakeMs: st.bakeMs,
      startedAt: new Date(this.now()).toISOString(),
      total: { requests: 0, good: 0, bad: 0 },
      verdict: 'running',
    };
    this.report.steps.push(rep);
    this.log.startGroup(`Step ${i + 1}/${n}: canary ${st.weight}%`);
    try {
      const snap = await this.router.setRoutes(stepDestinations(this.stable, this.canary, st.weight));
      this.weight = st.weight;
      this.log.info(`Route ${this.report.route} now: ${describeDestinations(snap.destinations)}`);
      await this.saveState({ status: 'progressing', weight: st.weight });
      await this.update(false);

      const v = await this.deps.verify({
        step: i,
        weight: st.weight,
        bakeMs: st.bakeMs,
        signal: this.deps.signal,
        canaryRelease: this.s.canaryRelease,
        stableRelease: this.stableRelease,
        progress: (line) => this.log.info(line),
      });
      Object.assign(rep, {
        endedAt: new Date(this.now()).toISOString(),
        total: v.total,
        stable: v.stable,
        canary: v.canary,
        observedCanaryShare: v.observedCanaryShare,
        expectedShareRange: v.expectedShareRange,
        samples: v.samples,
        verdict: v.verdict === 'passed' ? 'passed' : 'failed',
        reason: v.reason,
      });
      this.log.info(stepLine(rep));
      if (v.verdict === 'cancelled') {
        const why = abortReason(this.deps.signal) ?? 'The run was cancelled.';
        throw new StepFailure(`${sentence(why)} (${v.reason})`, true);
      }
      // The report knows the step; the reason is the evidence.
      if (v.verdict === 'failed') throw new StepFailure(v.reason);
    } catch (err) {
      if (rep.verdict === 'running') {
        rep.verdict = 'failed';
        rep.reason = msg(err);
        rep.endedAt = new Date(this.now()).toISOString();
      }
      throw err;
    } finally {
      this.log.endGroup();
    }
  }

  private async promote(): Promise<RolloutResult> {
    const s = this.s;
    await this.router.setRoutes(stepDestinations(undefined, this.canary, 100));
    this.weight = 100;
    await this.saveState({
      status: 'promoted',
      weight: 100,
      stableRelease: s.canaryRelease,
      stableHost: this.canary.host,
      canaryRelease: undefined,
      canaryHost: undefined,
    });
    let cleanup = '';
    let stillUsed: string[] = [];
    if (!s.cleanup) {
      cleanup = this.stableRelease ? ` The old release ${this.stableRelease} was kept (cleanup: false).` : '';
    } else if (!this.stableRelease) {
      this.warn(
        `The old stable Service "${this.stable?.host}" is not part of a Helm release, so it was left running; remove it by hand.`,
      );
    } else if ((stillUsed = await this.router.references(this.stable!.host)).length > 0) {
      this.warn(
        `The old release ${this.stableRelease} was kept: route(s) ${stillUsed.join(', ')} of ${this.router.kind} ` +
          `"${this.router.name}" still send traffic to ${this.stable!.host}. Uninstall it once they no longer do.`,
      );
    } else if (this.routerOwnerRelease === this.stableRelease) {
      this.warn(
        `The old stable release ${this.stableRelease} also owns ${this.router.kind} "${this.router.name}", so it was ` +
          `not uninstalled (that would delete the route). Move the ${this.router.kind} to its own chart.`,
      );
    } else {
      try {
        await this.deps.helm.uninstall(
          this.stableRelease,
          this.stableReleaseNamespace ?? s.namespace,
          s.helmTimeoutMs,
        );
        cleanup = ` The old release ${this.stableRelease} was uninstalled.`;
      } catch (err) {
        this.warn(
          `Promotion done, but uninstalling the old release ${this.stableRelease} failed: ${msg(err)}`,
        );
      }
    }
    return this.finish(
      'promoted',
      `${s.canaryRelease} passed every step and now receives 100% of the traffic.${cleanup}`,
    );
  }

  // ---- failure handling ----

  private async fail(err: unknown): Promise<RolloutResult> {
    const reason = sentence(msg(err));
    const cancelled = err instanceof StepFailure && err.cancelled;
    if (!this.installed) {
      this.log.warning(reason);
      return this.finish('failed', `${reason} Traffic was not changed.`);
    }
    const pause = this.s.onFailure === 'pause' && !cancelled && this.weight > 0 && err instanceof StepFailure;
    if (pause) {
      await this.saveState({ status: 'paused', weight: this.weight }).catch(() => undefined);
      return this.finish(
        'paused',
        `${reason} Paused at ${this.weight}% as on-failure: pause asks; ${this.s.canaryRelease} is left for inspection.`,
      );
    }
    // Traffic first, everything else after.
    if (this.stable) {
      try {
        const snap = await this.router.setRoutes(stepDestinations(this.stable, this.canary, 0));
        this.weight = 0;
        this.log.info(
          `Rolled back: route ${this.report.route} now ${describeDestinations(snap.destinations)}`,
        );
      } catch (e) {
        return this.finish(
          'failed',
          `${reason} Rolling back the weights ALSO failed (${msg(e)}); set the route to 100% ${this.stable.host} by hand.`,
        );
      }
    }
    try {
      await this.deps.helm.uninstall(this.s.canaryRelease, this.s.namespace, this.s.helmTimeoutMs);
    } catch (e) {
      this.warn(`Uninstalling the canary release ${this.s.canaryRelease} failed: ${msg(e)}`);
    }
    await this.saveState({
      status: 'rolled-back',
      weight: 0,
      canaryRelease: undefined,
      canaryHost: undefined,
    }).catch((e) => this.warn(`Could not record the state on the ${this.router.kind}: ${msg(e)}`));
    if (!this.stable) return this.finish('failed', `${reason} ${this.s.canaryRelease} was uninstalled.`);
    return this.finish(
      'rolled-back',
      `${reason} All traffic is back on ${this.stableRelease ?? this.stable.host}; ${this.s.canaryRelease} was uninstalled.`,
    );
  }

  // ---- helpers ----

  private checkAborted(): void {
    if (this.deps.signal.aborted) throw new StepFailure(abortReason(this.deps.signal)!, true);
  }

  private async saveState(change: Partial<RolloutState>): Promise<void> {
    const st: RolloutState = {
      stableRelease: this.stableRelease,
      stableHost: this.stable?.host,
      canaryRelease: this.s.canaryRelease,
      canaryHost: this.canary?.host,
      runUrl: this.deps.runUrl,
      ...change,
    };
    await this.router.setState(stateAnnotations(st, new Date(this.now())));
  }

  private warn(text: string): void {
    this.report.warnings.push(text);
    this.log.warning(text);
  }

  private async update(final: boolean): Promise<void> {
    try {
      await this.deps.onUpdate?.(this.report, final);
    } catch (err) {
      this.log.warning(`Report update failed: ${msg(err)}`);
    }
  }

  private async finish(status: RolloutResult['status'], reason: string): Promise<RolloutResult> {
    // Steps the run never reached are listed as skipped, so the report shows the whole plan.
    if (status !== 'promoted' && (this.installed || this.s.dryRun) && this.stable) {
      for (let i = this.report.steps.length; i < this.s.steps.length; i++) {
        const st = this.s.steps[i];
        this.report.steps.push({
          index: i,
          weight: st.weight,
          bakeMs: st.bakeMs,
          startedAt: new Date(this.now()).toISOString(),
          total: { requests: 0, good: 0, bad: 0 },
          verdict: 'skipped',
        });
      }
    }
    this.report.outcome = status;
    this.report.reason = reason;
    this.report.endedAt = new Date(this.now()).toISOString();
    await this.update(true);
    return {
      status,
      reason,
      stableRelease: status === 'promoted' ? this.s.canaryRelease : this.stableRelease,
      canaryRelease: this.s.canaryRelease,
      weight: this.weight,
      report: this.report,
    };
  }
}

function abortReason(signal: AbortSignal): string | undefined {
  if (!signal.aborted) return undefined;
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : String(r ?? 'The run was cancelled.');
}

/** Ends a text with a full stop so another sentence can follow it. */
function sentence(text: string): string {
  const t = text.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

function msg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function pct(f?: VersionFigures): string {
  if (!f || f.requests === 0) return '—';
  return `${((100 * f.good) / f.requests).toFixed(1)}% of ${f.requests}`;
}

/** The one-line summary of a step for the log. */
export function stepLine(r: StepReport): string {
  const parts = [`step ${r.index + 1} ${r.weight}%: ${r.verdict}`, `requests ${r.total.requests}`];
  if (r.stable || r.canary) parts.push(`stable ${pct(r.stable)}`, `canary ${pct(r.canary)}`);
  else parts.push(`success ${pct(r.total)}`);
  const p95 = r.canary?.p95Ms ?? r.total.p95Ms;
  if (p95 !== undefined) parts.push(`p95 ${Math.round(p95)} ms`);
  if (r.observedCanaryShare !== undefined)
    parts.push(`split ${(100 * r.observedCanaryShare).toFixed(1)}% canary`);
  if (r.reason) parts.push(r.reason);
  return parts.join(', ');
}
