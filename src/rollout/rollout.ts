// The rollout loop: install the canary beside the stable release, step the weights with
// verification, then promote or put all traffic back on stable. It talks to the cluster only
// through IHelm, IKubectl and a TrafficRouter, and knows nothing about YAML or HTTP.
import type { IHelm } from '../kube/helm-helper.js';
import type { IKubectl } from '../kube/kubectl-helper.js';
import {
  compareDestinations,
  describeDestinations,
  destinationKey,
  parseDestinationKey,
  RouteChangedError,
  sameService,
  type Destination,
  type RouteSnapshot,
  type TrafficRouter,
} from '../router/router.js';
import type { Logger, Settings, Step, VersionFigures } from '../lib/types.js';
import type { Outcome, RunReport, StepReport } from '../report/model.js';
import type { VerifyFn } from '../verify/verifier.js';
import { readState, stateAnnotations, type RolloutState } from './state.js';
import { isTransient, retryFor } from './retry.js';
import { chartOf, chooseCanaryService, rendersService, stepDestinations } from './plan.js';

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
  /** One rollout at a time per routing object: taken before the first write, released at the end. */
  lock?: RolloutLock;
  now?: () => number;
  /** Sleep between restore retries; default real timers. */
  sleep?: (ms: number) => Promise<void>;
  /** How long a report write may hold up the run (default 5 s). */
  reportTimeoutMs?: number;
  /** How often a bake re-reads the route (default 5 s). */
  routeCheckMs?: number;
  /** Preflight of the cluster permissions: throws naming the missing ones, before any read or write. */
  checkAccess?: () => Promise<void>;
  /**
   * Checks of the verification setup that only read (e.g. every metrics query against
   * Prometheus), run at the end of preflight, before any write; a throw stops the run.
   */
  preflightChecks?: (c: PreflightContext) => Promise<void>;
}

export interface PreflightContext {
  canaryRelease: string;
  stableRelease?: string;
  /** The canary's rendered manifest (helm template). */
  manifest: string;
  signal: AbortSignal;
}

export interface RolloutLock {
  /** Takes the lock, or throws naming the run that holds it. `tookOver` describes an expired holder. */
  acquire(): Promise<{ release(): Promise<void>; tookOver?: string }>;
}

export interface RolloutResult {
  status: Exclude<Outcome, 'running'>;
  /** True exactly when the command did what was asked (the exit code is 0). */
  ok: boolean;
  reason: string;
  stableRelease?: string;
  canaryRelease: string;
  weight: number;
  report: RunReport;
}

/** An error that ends the run before anything in the cluster changed. */
export class PreflightError extends Error {}

/** How often a bake re-reads the route to notice someone else's change (ms). */
const ROUTE_CHECK_MS = 5_000;
/** How long a report (PR comment) write may hold up the end of a run. */
const REPORT_TIMEOUT_MS = 5_000;
/** How long restore writes retry through transient API errors. */
const RESTORE_RETRY_MS = 60_000;

/** `command: rollback`: the operator asked for it; not a failure. */
class OperatorRollback extends Error {
  constructor() {
    super('Rolled back as asked (command: rollback).');
  }
}

class StepFailure extends Error {
  constructor(
    message: string,
    readonly cancelled = false,
  ) {
    super(message);
  }
}

/** The verification setup itself is broken (the current stable cannot be probed): nothing was installed. */
class SetupError extends Error {}

export async function runRollout(deps: RolloutDeps): Promise<RolloutResult> {
  return new Rollout(deps).run();
}

/**
 * The post step after a main step that did not end (killed, out of memory): puts 100% back on
 * stable when the recorded rollout is this run's, removes a canary that this run installed but
 * never routed to, and releases the lock. Changes nothing when the record is another run's.
 */
export async function runRecovery(deps: RolloutDeps): Promise<RolloutResult> {
  const r = new Rollout(deps);
  try {
    return await r.recover();
  } finally {
    await r.releaseLock();
  }
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
  private routerOwnerReleases: string[] = [];
  /** The release being rolled out: the input's for `rollout`, the recorded one for promote/rollback. */
  private canaryRelease: string;
  /** The managed route as this run last wrote (or found) it: anything else means someone changed it. */
  private lastWritten?: Destination[];
  /** An unfinished rollout of another version, rolled back before this one installs. */
  private superseded?: { release: string; host?: string; weight: number };
  /** A record that no longer matches the cluster (canary gone, 100% stable): cleared before install. */
  private staleRecord = false;
  private lock?: { release(): Promise<void> };
  /** Canary weight when this run started stepping (the recorded one for promote). */
  private startWeight = 0;
  /** The pinned route (canary header -> canary) is in place. */
  private pinned = false;
  /** First deployment: the route as found (every destination a missing Service), restored on failure. */
  private firstRoute?: Destination[];
  /** When the install returned, and when the first user weight was written (ms). */
  private installedAt?: number;
  private firstUserWeightAt?: number;

  constructor(private readonly deps: RolloutDeps) {
    this.s = deps.settings;
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    // The state records a destination as "host" or "host/subset"; the router's hint is the host.
    this.router = deps.createRouter({
      stableHostOf: (st) => {
        const key = readState(st).stableHost;
        return key ? parseDestinationKey(key).host : undefined;
      },
    });
    this.canaryRelease = this.s.canaryRelease;
    this.report = {
      command: this.s.command,
      namespace: this.s.namespace,
      release: this.s.release,
      routing: {
        kind: this.router.kind,
        name: this.router.name,
        ...(this.router.objects ? { objects: this.router.objects } : {}),
        ...(this.router.versions
          ? { versions: { kind: this.router.versions.kind, name: this.router.versions.name } }
          : {}),
      },
      stable: {},
      canary: { release: this.s.canaryRelease, chart: this.s.chart, chartVersion: this.s.chartVersion },
      outcome: 'running',
      reason: 'The rollout is starting.',
      startedAt: new Date(this.now()).toISOString(),
      steps: [],
      warnings: [],
      runUrl: deps.runUrl,
      dryRun: this.s.dryRun,
      ...(!this.s.verify.url && !this.s.verify.command && !this.s.metrics ? { unverified: true } : {}),
      helmVersion: deps.helm.version,
      kubectlVersion: deps.kubectl.version,
    };
  }

  async run(): Promise<RolloutResult> {
    try {
      await this.deps.checkAccess?.();
    } catch (err) {
      return this.finish('failed', `${sentence(msg(err))} Nothing in the cluster was changed.`);
    }
    if (this.s.command === 'status') return this.statusCommand();
    try {
      if (this.s.command === 'rollout') return await this.rollout();
      return await this.operate(this.s.command);
    } finally {
      await this.releaseLock();
    }
  }

  async releaseLock(): Promise<void> {
    await this.lock?.release().catch((e) => this.log.warning(`Could not release the lock: ${msg(e)}`));
    this.lock = undefined;
  }

  async recover(): Promise<RolloutResult> {
    if (this.s.command === 'status' || this.s.dryRun)
      return this.finish(
        'unchanged',
        'The main step did not end; it was not going to change anything.',
        true,
      );
    let snap: RouteSnapshot;
    let state: RolloutState;
    try {
      ({ snap, state } = await this.lockAndRead());
    } catch (err) {
      return this.finish('failed', `The post step could not read the ${this.router.kind}: ${msg(err)}`);
    }
    const unfinished = state.status === 'progressing' || state.status === 'paused';
    if (unfinished && state.canaryRelease && state.runUrl === this.deps.runUrl) {
      this.loadRecord('rollback', snap, state);
      return this.fail(
        new StepFailure(
          'The main step did not end (the runner killed it or it ran out of memory); the post step restored the stable release.',
          true,
        ),
      );
    }
    // Killed during the install: a release of this run that never got traffic.
    const mine = this.canaryRelease;
    if (mine && mine !== state.stableRelease && (await this.deps.helm.status(mine, this.s.namespace))) {
      const versions = this.router.versions;
      let key: string;
      if (versions) {
        key = destinationKey({ host: snap.destinations[0]?.host ?? '', subset: mine });
      } else {
        const manifest = await this.deps.helm.getManifest(mine, this.s.namespace);
        const svc = chooseCanaryService(manifest, this.s.service, undefined);
        key = this.router.hostOf({ name: svc.name, namespace: svc.namespace ?? this.s.namespace });
      }
      if ((this.findDest(snap, key)?.weight ?? 0) === 0) {
        this.canary = { ...parseDestinationKey(key), weight: 0 };
        await this.router
          .removePinnedRoute()
          .catch((e) =>
            this.warn(`Could not remove the pinned route from the ${this.router.kind}: ${msg(e)}`),
          );
        const done = await this.uninstallCanary(true);
        return this.finish(
          'rolled-back',
          `The main step did not end; ${mine} got no traffic${done ? ' and was uninstalled' : ''}.`,
          done,
        );
      }
    }
    return this.finish(
      'unchanged',
      `The main step did not end, but the route holds no unfinished rollout of this run.`,
      true,
    );
  }

  private async rollout(): Promise<RolloutResult> {
    let first: 'go' | 'unchanged';
    // A superseded canary that still gets users' traffic is rolled back before the stable is probed.
    const baselineLater = (): boolean => (this.superseded?.weight ?? 0) > 0;
    try {
      first = await this.preflight();
      if (first === 'go' && !baselineLater()) await this.baseline();
      else if (first === 'go' && this.s.dryRun)
        this.log.info(
          `dry-run: the baseline check is skipped: users' traffic still reaches the superseded ${this.superseded!.release}.`,
        );
      if (first === 'go' && !this.s.dryRun) await this.takeLock();
    } catch (err) {
      return this.finish('failed', `${sentence(msg(err))} Nothing in the cluster was changed.`);
    }
    if (first === 'unchanged') return this.finish('unchanged', this.report.reason);
    if (this.s.dryRun) return this.finish('unchanged', this.report.reason);

    try {
      await this.settleRecord();
      if (baselineLater()) {
        try {
          await this.baseline();
        } catch (err) {
          if (!(err instanceof SetupError)) throw err;
          return this.finish('failed', `${sentence(msg(err))} Nothing was installed.`);
        }
      }
      await this.install();
      await this.precheck();
      if (!this.stable) return await this.firstDeployment();
      return await this.runSteps(this.s.steps);
    } catch (err) {
      return this.fail(err);
    }
  }

  // ---- verification before any user weight ----

  /**
   * Probes verify-url as users reach it (the current stable) before anything is installed; a
   * failure stops the run: the verification setup is broken, not the canary. With nothing live
   * behind the route (a first deployment) only the reachability of verify-url is checked.
   */
  private async baseline(): Promise<void> {
    if (!this.s.verify.url) return;
    this.log.startGroup('Baseline: the current stable as users reach it');
    try {
      const v = await this.deps.verify({
        phase: 'baseline',
        step: -1,
        weight: 0,
        bakeMs: 0,
        reachabilityOnly: !this.stable,
        signal: this.deps.signal,
        canaryRelease: this.canaryRelease,
        stableRelease: this.stableRelease,
        progress: (line) => this.log.info(line),
      });
      this.report.baseline = { verdict: v.verdict, reason: v.reason, total: v.total };
      this.log.info(`Baseline ${v.verdict}: ${v.reason}.`);
      if (v.verdict === 'cancelled')
        throw new SetupError(abortReason(this.deps.signal) ?? 'The run was cancelled.');
      if (v.verdict === 'failed')
        throw new SetupError(
          `The baseline check failed before anything was installed: ${v.reason}. The verification setup is broken, not the canary.`,
        );
    } finally {
      this.log.endGroup();
    }
  }

  /** The pinned route: requests with the canary header go to the canary, whatever the weights. */
  private async pin(): Promise<void> {
    if (!this.s.verify.url || this.pinned) return;
    const { host, port, subset } = this.canary;
    await this.router.setPinnedRoute({
      header: this.s.canaryHeader,
      value: this.canaryRelease,
      destination: { host, ...(port !== undefined ? { port } : {}), ...(subset ? { subset } : {}) },
    });
    this.pinned = true;
    this.log.info(
      `Pinned route in front of route ${this.report.route}: requests with header ${this.s.canaryHeader}: ${this.canaryRelease} go to ${host}.`,
    );
  }

  /** Pinned probes of the canary before any user weight; a failure rolls back with no user traffic. */
  private async precheck(): Promise<void> {
    if (!this.s.verify.url) return;
    await this.pin();
    if (this.s.precheckMs <= 0) {
      this.log.info('Pre-traffic check off (precheck: 0s): the first step gives the canary user traffic.');
      return;
    }
    const bakeMs = this.s.precheckMs;
    const maxBakeMs = this.s.maxBakeMs === undefined ? 3 * bakeMs : Math.max(this.s.maxBakeMs, bakeMs);
    await this.step({ weight: 0, bakeMs, maxBakeMs }, -1, 'precheck');
  }

  /** The steps from here on; with promotion: manual the run stops verified below 100%. */
  private async runSteps(steps: Settings['steps']): Promise<RolloutResult> {
    const manual = this.s.promotion === 'manual' && this.s.command === 'rollout';
    const todo = manual ? steps.filter((st) => st.weight < 100) : steps;
    for (const st of todo) await this.step(st, this.s.steps.indexOf(st));
    if (manual) {
      await this.unpin();
      await this.saveState({ status: 'paused', weight: this.weight });
      return this.finish(
        'paused',
        `${this.canaryRelease} passed every step up to ${this.weight}% and waits for a manual promotion ` +
          `(promotion: manual). Promote it with command: promote, or roll it back with command: rollback.`,
        true,
      );
    }
    return this.promote();
  }

  /** Takes the lock, then reads the route and the state recorded on it. */
  private async lockAndRead(): Promise<{ snap: RouteSnapshot; state: RolloutState }> {
    await this.takeLock();
    const snap = await this.router.getRoutes();
    this.report.route = snap.route;
    return { snap, state: readState(snap.state) };
  }

  private async takeLock(): Promise<void> {
    if (!this.deps.lock) return;
    const l = await this.deps.lock.acquire();
    this.lock = l;
    if (l.tookOver) this.warn(l.tookOver);
  }

  // ---- status / promote / rollback: act on the rollout recorded on the routing object ----

  private async statusCommand(): Promise<RolloutResult> {
    try {
      const snap = await this.router.getRoutes();
      const state = readState(snap.state);
      this.report.route = snap.route;
      const status = state.status === 'failed' ? 'progressing' : (state.status ?? 'none');
      const canaryDest = state.canaryHost ? this.findDest(snap, state.canaryHost) : undefined;
      this.weight = canaryDest?.weight ?? (status === 'promoted' ? 100 : (state.weight ?? 0));
      this.stableRelease = state.stableRelease;
      this.canaryRelease = state.canaryRelease ?? '';
      this.report.stable = { release: state.stableRelease, service: state.stableHost };
      this.report.canary = { release: state.canaryRelease, service: state.canaryHost };
      let note = '';
      if ((status === 'progressing' || status === 'paused') && state.canaryRelease) {
        const info = await this.deps.helm.status(state.canaryRelease, this.s.namespace);
        if (!info)
          note = ` The record is stale: release ${state.canaryRelease} no longer exists; the next rollout clears it.`;
        else if (state.weight !== undefined && canaryDest && canaryDest.weight !== state.weight)
          note = ` The route gives ${state.canaryRelease} ${canaryDest.weight}%, not the recorded ${state.weight}%: someone changed it.`;
      }
      this.log.info(`Route ${snap.route}: ${describeDestinations(snap.destinations)}`);
      const what =
        status === 'none'
          ? `No rollout is recorded on ${this.router.kind} "${this.router.name}".`
          : `Recorded state: ${status}, canary ${state.canaryRelease ?? '(none)'} at ${this.weight}%, stable ${state.stableRelease ?? state.stableHost ?? '(none)'}${state.runUrl ? ` (last run ${state.runUrl})` : ''}.`;
      return this.finish(status, `${what}${note}`, true);
    } catch (err) {
      return this.finish('failed', `${sentence(msg(err))} Nothing in the cluster was changed.`);
    }
  }

  private async operate(command: 'promote' | 'rollback'): Promise<RolloutResult> {
    try {
      const { snap, state } = await this.lockAndRead();
      this.loadRecord(command, snap, state);
    } catch (err) {
      return this.finish('failed', `${sentence(msg(err))} Nothing in the cluster was changed.`);
    }
    try {
      if (command === 'rollback') return await this.fail(new OperatorRollback(), true);
      const info = await this.deps.helm.status(this.canaryRelease, this.s.namespace);
      if (!info) {
        return this.finish(
          'failed',
          `The recorded canary release ${this.canaryRelease} no longer exists, so there is nothing to promote; ` +
            `run command: rollback to clear the record. Nothing in the cluster was changed.`,
        );
      }
      Object.assign(this.report.canary, chartOf(info.chart), { appVersion: info.appVersion });
      await this.pin();
      if (!this.stable) {
        await this.writeRoutes(stepDestinations(undefined, this.canary, 100));
        return await this.promote();
      }
      this.startWeight = this.weight;
      return await this.runSteps(this.s.steps.filter((st) => st.weight > this.weight));
    } catch (err) {
      return this.fail(err);
    }
  }

  /** Takes stable, canary and weight from the record and the route, or throws: nothing to act on. */
  private loadRecord(command: 'promote' | 'rollback', snap: RouteSnapshot, state: RolloutState): void {
    const where = `${this.router.kind} "${this.router.name}"`;
    if (state.status === 'promoted') {
      throw new PreflightError(
        `There is nothing to ${command}: ${where} records that ${state.stableRelease ?? 'the last release'} was already promoted. ` +
          `To go back to an older version, re-run the rollout of that version.`,
      );
    }
    if (!state.status || !state.canaryRelease || state.status === 'rolled-back') {
      throw new PreflightError(
        `There is nothing to ${command}: ${where} records no unfinished rollout` +
          `${state.status ? ` (its last rollout is ${state.status})` : ''}.`,
      );
    }
    this.canaryRelease = state.canaryRelease;
    this.stableRelease = state.stableRelease;
    this.report.canary = { release: state.canaryRelease, service: state.canaryHost };
    this.report.stable = { release: state.stableRelease, service: state.stableHost };
    const canary = state.canaryHost ? this.findDest(snap, state.canaryHost) : undefined;
    this.stable = state.stableHost ? this.findDest(snap, state.stableHost) : undefined;
    this.canary = canary ?? { host: state.canaryHost ?? '', weight: 0 };
    if (state.stableHost && !this.stable && command === 'rollback') {
      throw new PreflightError(
        `${where} no longer routes to the recorded stable ${state.stableHost}; restore the route by hand.`,
      );
    }
    this.weight = canary?.weight ?? 0;
    if (command === 'promote' && state.weight !== undefined && this.weight !== state.weight) {
      throw new PreflightError(
        `Route ${snap.route} of ${where} gives ${this.canaryRelease} ${this.weight}%, not the ${state.weight}% ` +
          `helm-canary recorded: someone changed it${snap.changedBy ? ` (${snap.changedBy})` : ''}. ` +
          `Check the route, then run command: rollback, or set it back to ${state.weight}% and promote again.`,
      );
    }
    this.lastWritten = snap.destinations;
    this.installed = true;
    this.log.info(
      `Recorded rollout: ${state.status} at ${this.weight}%, stable ${this.stableRelease ?? state.stableHost}, ` +
        `canary ${this.canaryRelease}; route ${snap.route}: ${describeDestinations(snap.destinations)}.`,
    );
  }

  /** The destination a recorded key ("host" or "host/subset") names; a key without a subset matches by Service. */
  private findDest(snap: RouteSnapshot, key: string): Destination | undefined {
    const want = parseDestinationKey(key);
    return snap.destinations.find(
      (d) =>
        sameService(this.router, d.host, want.host) &&
        (want.subset === undefined || d.subset === want.subset),
    );
  }

  /** Subset mode: removes the registry entry of `d` (a release that no longer gets traffic). */
  private async removeVersion(d: Pick<Destination, 'host' | 'subset'> | undefined): Promise<void> {
    const versions = this.router.versions;
    if (!versions || !d?.subset) return;
    try {
      if (await versions.remove(d))
        this.log.info(`Removed subset "${d.subset}" from ${versions.kind} "${versions.name}".`);
    } catch (e) {
      this.warn(`Could not remove subset "${d.subset}" from ${versions.kind} "${versions.name}": ${msg(e)}`);
    }
  }

  /** Clears a stale record and rolls back a superseded rollout, before this run installs. */
  private async settleRecord(): Promise<void> {
    if (this.superseded) {
      const old = this.superseded;
      this.warn(
        `Rolling back the unfinished rollout of ${old.release} (at ${old.weight}%) first: it is superseded by ${this.canaryRelease}.`,
      );
      if (this.stable && old.weight > 0) await this.writeRoutes([{ ...this.stable, weight: 100 }]);
      await this.router.removePinnedRoute();
      await this.deps.helm
        .uninstall(old.release, this.s.namespace, this.s.helmTimeoutMs)
        .catch((e) => this.warn(`Uninstalling the superseded release ${old.release} failed: ${msg(e)}`));
      if (old.host) await this.removeVersion(parseDestinationKey(old.host));
      await this.saveState({
        status: 'rolled-back',
        weight: 0,
        canaryRelease: old.release,
        canaryHost: old.host,
      });
    } else if (this.staleRecord) {
      await this.saveState({
        status: 'rolled-back',
        weight: 0,
        canaryRelease: undefined,
        canaryHost: undefined,
      });
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
    this.routerOwnerReleases =
      inspection.ownerReleases ?? (inspection.ownerRelease ? [inspection.ownerRelease] : []);
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

    this.lastWritten = snap.destinations;
    if ((state.status === 'progressing' || state.status === 'paused') && state.canaryRelease) {
      const old = state.canaryRelease;
      const info = await helm.status(old, s.namespace);
      const oldWeight = (state.canaryHost ? this.findDest(snap, state.canaryHost)?.weight : undefined) ?? 0;
      const left = `${router.kind} "${router.name}" records a rollout of "${old}" that is ${state.status} at ${oldWeight}%`;
      if (!info && oldWeight === 0) {
        this.warn(
          `${left}, but ${old} no longer exists and receives no traffic: the stale record is cleared.`,
        );
        this.staleRecord = true;
      } else if (old === this.canaryRelease) {
        throw new PreflightError(
          `${left}${state.runUrl ? ` (run ${state.runUrl})` : ''}, which did not finish. ` +
            `Continue it with command: promote, or undo it with command: rollback.`,
        );
      } else {
        this.log.info(`${left}; ${this.canaryRelease} supersedes it.`);
        this.superseded = { release: old, host: state.canaryHost, weight: oldWeight };
      }
    }

    // Which destination is live now?
    this.stable = await this.findStable(snap, state);
    if (!this.stable) this.firstRoute = snap.destinations;
    if (router.versions && !this.stable)
      throw new PreflightError(
        `Subset mode (input 'destination-rule') needs a stable subset to start from: route ${snap.route} of ${router.kind} ` +
          `"${router.name}" has no destination; install the first version and route to its subset by hand.`,
      );
    if (this.stable && router.versions) {
      const found = await router.versions.check(this.stable);
      this.stableRelease = found.stableRelease ?? state.stableRelease;
      this.stableReleaseNamespace = s.namespace;
      this.report.stable = { release: this.stableRelease, service: destinationKey(this.stable) };
      if (this.stableRelease) {
        const info = await helm.status(this.stableRelease, s.namespace);
        if (info) Object.assign(this.report.stable, chartOf(info.chart), { appVersion: info.appVersion });
      }
    } else if (this.stable) {
      const svc = router.serviceOf(this.stable.host);
      const svcObj = await kubectl.get('services', svc.name, svc.namespace);
      if (!svcObj) {
        await this.checkNothingLive(snap, this.stable);
        this.warn(
          `The route's destination "${this.stable.host}" has no Service; treating this as a first deployment.`,
        );
        this.stable = undefined;
        this.firstRoute = snap.destinations;
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

    if (this.stableRelease === s.canaryRelease && !this.superseded) {
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
    if (router.versions && this.stable) {
      // Every version is reached through the one shared Service: a chart that renders its own copy
      // would take it over (or fail to install).
      const shared = router.serviceOf(this.stable.host);
      if (rendersService(manifest, shared, s.namespace))
        throw new PreflightError(
          `The new release would render Service "${shared.name}", the shared Service of subset mode (input 'destination-rule'); ` +
            `render it outside the app chart (e.g. with the routing objects) or disable it in the chart's values.`,
        );
      this.canary = { ...router.versions.destinationOf(s.canaryRelease, this.stable), weight: 0 };
    } else {
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
    }
    this.report.canary.service = destinationKey(this.canary);
    if (this.deps.preflightChecks) {
      const c = {
        canaryRelease: s.canaryRelease,
        stableRelease: this.stableRelease,
        manifest,
        signal: this.deps.signal,
      };
      await this.deps.preflightChecks(c).catch((e: unknown) => {
        throw new PreflightError(msg(e));
      });
    }

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

  /**
   * A route counts as "nothing live" (a first deployment) only when every destination is a
   * Service of the cluster that does not exist. Anything else without a Service — an external host,
   * a host a ServiceEntry declares — has users behind it that no run may cut over unverified and
   * without a stable to return to: the run stops before any write.
   */
  private async checkNothingLive(snap: RouteSnapshot, live: Destination): Promise<void> {
    const where = `Route ${snap.route} of ${this.router.kind} "${this.router.name}"`;
    for (const d of snap.destinations) {
      const external = await this.router.externalHost(d.host);
      if (external)
        throw new PreflightError(
          `${where} sends traffic to ${external}. helm-canary cannot verify the new release against it or ` +
            `return traffic to it, so it will not cut users over: route to an in-cluster Service first (e.g. one ` +
            `in front of that backend), then roll out.`,
        );
      if (d === live) continue;
      const svc = this.router.serviceOf(d.host);
      if (await this.deps.kubectl.get('services', svc.name, svc.namespace))
        throw new PreflightError(
          `${where} sends ${live.weight}% to "${live.host}", which has no Service, but also lists "${d.host}", ` +
            `which has one: put 100% on the stable Service first.`,
        );
    }
  }

  private async findStable(snap: RouteSnapshot, state: RolloutState): Promise<Destination | undefined> {
    const live = snap.destinations.filter((d) => d.weight > 0);
    if (state.stableHost) {
      const d = this.findDest(snap, state.stableHost);
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
    this.log.startGroup(`Install ${this.canaryRelease}`);
    try {
      this.checkAborted();
      // Cancellation kills helm (and its process group); the uninstall below runs without it.
      const { manifest } = await this.deps.helm.install({
        ...this.installOptions(),
        signal: this.deps.signal,
      });
      this.installed = true;
      this.installedAt = this.now();
      const versions = this.router.versions;
      if (versions && this.stable) {
        // Its subset exists before anything routes to it (the pinned route included).
        await versions.add(this.canaryRelease, this.stable);
        this.log.info(
          `Installed ${this.canaryRelease}; added its subset "${this.canary.subset}" to ${versions.kind} "${versions.name}".`,
        );
      } else {
        // The Service we route to is taken from what was really installed.
        const svc = chooseCanaryService(manifest, this.s.service, this.stable?.port);
        this.canary.host = this.router.hostOf({
          name: svc.name,
          namespace: svc.namespace ?? this.s.namespace,
        });
        this.log.info(`Installed ${this.canaryRelease}; it serves ${this.canary.host}.`);
      }
      const info = await this.deps.helm.status(this.canaryRelease, this.s.namespace).catch(() => undefined);
      if (info) Object.assign(this.report.canary, chartOf(info.chart), { appVersion: info.appVersion });
    } catch (err) {
      if (!this.installed) {
        // helm's rollback-on-failure already removes a failed install; make sure nothing is left.
        await this.deps.helm.uninstall(this.canaryRelease, this.s.namespace).catch(() => undefined);
        throw new StepFailure(`helm install of ${this.canaryRelease} failed: ${msg(err)}`);
      }
      throw err;
    } finally {
      this.log.endGroup();
    }
    await this.saveState({ status: 'progressing', weight: 0 });
    void this.update(false);
  }

  /** Nothing was live: 100% to the new release, verified like the plan's 100% step, then promoted. */
  private async firstDeployment(): Promise<RolloutResult> {
    const i = this.s.steps.length - 1;
    await this.step({ ...this.s.steps[i], weight: 100 }, i);
    return this.promote();
  }

  /**
   * One step: the weight written (not for the pre-traffic check, which probes the pinned route at
   * 0% user weight), then verified; throws StepFailure when it fails.
   */
  private async step(st: Step, i: number, kind: 'step' | 'precheck' = 'step'): Promise<void> {
    const n = this.s.steps.length;
    const precheck = kind === 'precheck';
    this.checkAborted();
    const rep: StepReport = {
      ...(precheck ? { kind: 'precheck' as const } : {}),
      index: i,
      weight: st.weight,
      bakeMs: st.bakeMs,
      startedAt: new Date(this.now()).toISOString(),
      total: { requests: 0, good: 0, bad: 0 },
      verdict: 'running',
    };
    this.report.steps.push(rep);
    this.log.startGroup(
      precheck
        ? `Pre-traffic check: ${this.canaryRelease} through the pinned route (header ${this.s.canaryHeader}), no user traffic`
        : `Step ${i + 1}/${n}: canary ${st.weight}%`,
    );
    try {
      if (!precheck) {
        const snap = await this.writeRoutes(stepDestinations(this.stable, this.canary, st.weight));
        this.weight = st.weight;
        if (this.firstUserWeightAt === undefined && this.installedAt !== undefined) {
          this.firstUserWeightAt = this.now();
          this.log.info(
            `First user weight ${((this.firstUserWeightAt - this.installedAt) / 1000).toFixed(1)} s after the install.`,
          );
        }
        this.log.info(`Route ${this.report.route} now: ${describeDestinations(snap.destinations)}`);
        await this.saveState({ status: 'progressing', weight: st.weight });
      }
      // The comment follows in the background: a report write never delays verification.
      void this.update(false);

      const watch = this.watchRoute();
      let v;
      try {
        v = await this.deps.verify({
          phase: kind,
          step: i,
          weight: st.weight,
          bakeMs: st.bakeMs,
          maxBakeMs: st.maxBakeMs ?? 3 * st.bakeMs,
          settleMs: this.s.verify.url ? (this.s.settleMs ?? 0) : 0,
          pin: this.pinned ? { header: this.s.canaryHeader, value: this.canaryRelease } : undefined,
          signal: AbortSignal.any([this.deps.signal, watch.signal]),
          canaryRelease: this.canaryRelease,
          stableRelease: this.stableRelease,
          progress: (line) => this.log.info(line),
        });
      } finally {
        watch.stop();
      }
      // The route must still be what this run wrote, now and at the end of every step.
      if (watch.changed) throw watch.changed;
      await this.checkRoute();
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
        ...(v.evidence ? { evidence: v.evidence } : {}),
        ...(v.metrics ? { metrics: v.metrics } : {}),
        ...(v.extendedMs !== undefined ? { extendedMs: v.extendedMs } : {}),
      });
      this.log.info(stepLine(rep));
      if (v.verdict === 'cancelled' || this.deps.signal.aborted) {
        const why = abortReason(this.deps.signal) ?? 'The run was cancelled.';
        throw new StepFailure(`${sentence(why)} (${v.reason})`, true);
      }
      // The report knows the step; the reason is the evidence.
      if (v.verdict === 'failed')
        throw new StepFailure(precheck ? `The pre-traffic check failed: ${v.reason}` : v.reason);
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
    const all = stepDestinations(undefined, this.canary, 100);
    if (!this.lastWritten || compareDestinations(all, this.lastWritten) !== undefined)
      await this.writeRoutes(all);
    this.weight = 100;
    await this.unpin();
    await this.saveState({
      status: 'promoted',
      weight: 100,
      stableRelease: this.canaryRelease,
      stableHost: destinationKey(this.canary),
      canaryRelease: undefined,
      canaryHost: undefined,
    });
    let cleanup = '';
    let stillUsed: string[] = [];
    if (!this.stable) {
      return this.finish(
        'promoted',
        `First deployment: ${this.canaryRelease} installed, given 100% of route ${this.report.route} and verified there.`,
      );
    } else if (!s.cleanup) {
      cleanup = this.stableRelease ? ` The old release ${this.stableRelease} was kept (cleanup: false).` : '';
    } else if (!this.stableRelease) {
      this.warn(
        `The old stable Service "${this.stable?.host}" is not part of a Helm release, so it was left running; remove it by hand.`,
      );
    } else if (
      (stillUsed = await this.router.references(
        this.stable!.host,
        this.router.versions ? this.stable!.subset : undefined,
      )).length > 0
    ) {
      this.warn(
        `The old release ${this.stableRelease} was kept: route(s) ${stillUsed.join(', ')} of ${this.router.kind} ` +
          `"${this.router.name}" still send traffic to ${this.stable!.host}. Uninstall it once they no longer do.`,
      );
    } else if (this.routerOwnerReleases.includes(this.stableRelease)) {
      this.warn(
        `The old stable release ${this.stableRelease} also owns ${this.router.kind} "${this.router.name}", so it was ` +
          `not uninstalled (that would delete the route). Move the ${this.router.kind} to its own chart.`,
      );
    } else {
      try {
        await this.drain(this.stableRelease);
        // Subset mode: the old subset goes first, so nothing can route to pods about to go.
        await this.removeVersion(this.stable);
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
      `${this.canaryRelease} passed every step and now receives 100% of the traffic.${cleanup}`,
    );
  }

  // ---- failure handling ----

  /**
   * Every end that is not a promotion. Traffic first: 100% back on stable (retried through
   * transient API errors), then the pinned route and the record, then the canary's uninstall —
   * never while the route still gives it weight. A route someone else changed is never written again.
   */
  private async fail(err: unknown, asked = false): Promise<RolloutResult> {
    const reason = asked ? '' : `${sentence(msg(err))} `;
    const cancelled = err instanceof StepFailure && err.cancelled;
    if (!this.installed) {
      this.log.warning(reason.trim());
      return this.finish('failed', `${reason}Traffic was not changed.`);
    }
    if (err instanceof RouteChangedError) return this.yieldRoute(err, reason);
    const pause = this.s.onFailure === 'pause' && !cancelled && this.weight > 0 && err instanceof StepFailure;
    if (pause) {
      await this.unpin().catch((e) =>
        this.warn(`Could not remove the pinned route from the ${this.router.kind}: ${msg(e)}`),
      );
      await this.saveState({ status: 'paused', weight: this.weight }).catch(() => undefined);
      return this.finish(
        'paused',
        `${reason}Paused at ${this.weight}% as on-failure: pause asks; ${this.canaryRelease} is left for inspection.`,
      );
    }
    // Drained before its uninstall only when users' traffic reached it.
    const hadTraffic = this.weight > 0;
    const back = this.stable
      ? [{ ...this.stable, weight: 100 }]
      : hadTraffic && this.firstRoute?.length
        ? this.firstRoute
        : undefined;
    // Never given user weight (e.g. a failed pre-traffic check): the route is as found, watched
    // all along; there is nothing to restore.
    const untouched = !hadTraffic && back && this.lastWritten && !compareDestinations(back, this.lastWritten);
    if (back && !untouched) {
      try {
        const snap = await retryFor(RESTORE_RETRY_MS, isTransient, () => this.writeRoutes(back), {
          sleep: this.deps.sleep,
          onRetry: (e, n) =>
            this.log.warning(`Restoring the weights failed (attempt ${n}), retrying: ${msg(e)}`),
        });
        this.weight = 0;
        this.log.info(
          `Rolled back: route ${this.report.route} now ${describeDestinations(snap.destinations)}`,
        );
      } catch (e) {
        if (e instanceof RouteChangedError) return this.yieldRoute(e, reason);
        return this.finish(
          'failed',
          `${reason}Rolling back the weights ALSO failed (${msg(e)}); ${this.canaryRelease} was left installed. ` +
            `Restore the route with: ${this.router.restoreCommand(back)}`,
        );
      }
    }
    await this.unpin().catch((e) =>
      this.warn(`Could not remove the pinned route from the ${this.router.kind}: ${msg(e)}`),
    );
    // The weights are back: the canary's subset is no longer routed to.
    await this.removeVersion(this.canary);
    await this.saveState({
      status: 'rolled-back',
      weight: 0,
      canaryRelease: undefined,
      canaryHost: undefined,
    }).catch((e) => this.warn(`Could not record the state on the ${this.router.kind}: ${msg(e)}`));
    // After a cancellation the runner kills the job within seconds: no drain then.
    if (hadTraffic && !cancelled) await this.drain(this.canaryRelease);
    const uninstalled = await this.uninstallCanary(cancelled);
    const gone = uninstalled
      ? `${this.canaryRelease} was uninstalled`
      : `${this.canaryRelease} is still installed`;
    if (!this.stable)
      return this.finish(
        'failed',
        `${reason}${back ? `The route is back as it was (${describeDestinations(back)}); ` : ''}${gone}.`,
      );
    if (!hadTraffic && !asked)
      return this.finish('rolled-back', `${reason}No user traffic reached ${this.canaryRelease}; ${gone}.`);
    return this.finish(
      'rolled-back',
      `${reason}All traffic is back on ${this.stableRelease ?? this.stable.host}; ${gone}.`,
      asked,
    );
  }

  /** Someone else changed the route: leave it as they left it, say so, and remove a canary only if it gets no traffic. */
  private async yieldRoute(err: RouteChangedError, reason: string): Promise<RolloutResult> {
    const mine = err.found.find(
      (d) =>
        this.canary &&
        sameService(this.router, d.host, this.canary.host) &&
        (!this.canary.subset || d.subset === this.canary.subset),
    );
    const canaryWeight = mine?.weight ?? 0;
    this.weight = canaryWeight;
    // The pinned route is this run's own, beside the route they changed: it goes either way.
    await this.unpin().catch((e) =>
      this.warn(`Could not remove the pinned route from the ${this.router.kind}: ${msg(e)}`),
    );
    let after: string;
    if (canaryWeight === 0) {
      await this.removeVersion(this.canary);
      const uninstalled = await this.uninstallCanary(false);
      await this.saveState({
        status: 'rolled-back',
        weight: 0,
        canaryRelease: undefined,
        canaryHost: undefined,
      }).catch(() => undefined);
      after = uninstalled
        ? ` It gives ${this.canaryRelease} no traffic, so ${this.canaryRelease} was uninstalled.`
        : '';
    } else {
      after =
        ` ${this.canaryRelease} still gets ${canaryWeight}%, so it was left installed: decide with command: rollback ` +
        `or command: promote once the route is as it should be.`;
    }
    const why = reason.includes(err.message) ? reason : `${reason}${sentence(err.message)} `;
    const text =
      `${why}helm-canary stopped and did not write the weights again; the route stays as found ` +
      `(${describeDestinations(err.found)}).${after}`;
    this.log.warning(text);
    return this.finish('failed', text.trim());
  }

  /** Removes the pinned route (if this run, or an earlier one, left one). */
  private async unpin(): Promise<void> {
    await this.router.removePinnedRoute();
    this.pinned = false;
  }

  /**
   * `drain`: waits before `release`, which just lost all its traffic, is uninstalled, so requests
   * already on their way to it finish. A cancellation ends the wait at once.
   */
  private async drain(release: string): Promise<void> {
    const ms = this.s.drainMs ?? 0;
    if (ms <= 0 || this.deps.signal.aborted) return;
    this.log.info(`Draining: waiting ${ms / 1000} s (drain) before uninstalling ${release}.`);
    if (this.deps.sleep) return this.deps.sleep(ms);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.deps.signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.deps.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Uninstalls the canary; after a cancellation with a short timeout (the runner kills us soon). */
  private async uninstallCanary(cancelled: boolean): Promise<boolean> {
    try {
      await this.deps.helm.uninstall(
        this.canaryRelease,
        this.s.namespace,
        cancelled ? 8_000 : this.s.helmTimeoutMs,
      );
      return true;
    } catch (e) {
      this.warn(`Uninstalling the canary release ${this.canaryRelease} failed: ${msg(e)}`);
      return false;
    }
  }

  /** One weight write, guarded: the route must still be what this run last wrote. */
  private async writeRoutes(destinations: Destination[]): Promise<RouteSnapshot> {
    const snap = await this.router.setRoutes(destinations, { current: this.lastWritten });
    this.lastWritten = snap.destinations;
    return snap;
  }

  /** Throws RouteChangedError when the route is not what this run last wrote. */
  private async checkRoute(): Promise<void> {
    if (!this.lastWritten) return;
    const snap = await this.router.getRoutes();
    if (compareDestinations(this.lastWritten, snap.destinations) === undefined) return;
    throw new RouteChangedError(
      `Route ${snap.route} of ${this.router.kind} "${this.router.name}" changed during the step: it reads ` +
        `${describeDestinations(snap.destinations)} instead of the ${describeDestinations(this.lastWritten)} helm-canary wrote; ` +
        `${snap.changedBy ? `it was changed by ${snap.changedBy}` : 'someone else changed it'}.`,
      snap.destinations,
      snap.changedBy,
    );
  }

  /** Re-reads the route every few seconds during a bake; aborts the step when someone changed it. */
  private watchRoute(): { signal: AbortSignal; stop(): void; changed?: RouteChangedError } {
    const ctrl = new AbortController();
    let busy = false;
    const w: { signal: AbortSignal; stop(): void; changed?: RouteChangedError } = {
      signal: ctrl.signal,
      stop: () => clearInterval(timer),
    };
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.checkRoute()
        .catch((e) => {
          if (e instanceof RouteChangedError) {
            w.changed = e;
            ctrl.abort(e);
          }
        })
        .finally(() => (busy = false));
    }, this.deps.routeCheckMs ?? ROUTE_CHECK_MS);
    timer.unref?.();
    return w;
  }

  // ---- helpers ----

  private checkAborted(): void {
    if (this.deps.signal.aborted) throw new StepFailure(abortReason(this.deps.signal)!, true);
  }

  private async saveState(change: Partial<RolloutState>): Promise<void> {
    const st: RolloutState = {
      stableRelease: this.stableRelease,
      stableHost: this.stable ? destinationKey(this.stable) : undefined,
      canaryRelease: this.canaryRelease,
      canaryHost: this.canary?.host ? destinationKey(this.canary) : undefined,
      runUrl: this.deps.runUrl,
      ...change,
    };
    await this.router.setState(stateAnnotations(st, new Date(this.now())));
  }

  private warn(text: string): void {
    this.report.warnings.push(text);
    this.log.warning(text);
  }

  /** Publishes the report (PR comment); never longer than REPORT_TIMEOUT_MS, never throws. */
  private async update(final: boolean): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((res) => {
      timer = setTimeout(() => res('timeout'), this.deps.reportTimeoutMs ?? REPORT_TIMEOUT_MS);
      timer.unref?.();
    });
    try {
      const r = await Promise.race([Promise.resolve(this.deps.onUpdate?.(this.report, final)), timeout]);
      if (r === 'timeout')
        this.log.warning('The report update is taking too long; going on without waiting for it.');
    } catch (err) {
      this.log.warning(`Report update failed: ${msg(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private async finish(
    status: RolloutResult['status'],
    reason: string,
    ok?: boolean,
  ): Promise<RolloutResult> {
    // Steps the run never reached are listed as skipped, so the report shows the whole plan.
    const planned = this.report.steps.filter((x) => x.kind !== 'precheck');
    const reached = new Set(planned.map((x) => x.index));
    const first = planned[0]?.index ?? this.s.steps.findIndex((st) => st.weight > this.startWeight);
    if (status !== 'promoted' && (this.installed || this.s.dryRun) && this.stable && first >= 0) {
      for (let i = first; i < this.s.steps.length; i++) {
        if (reached.has(i)) continue;
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
      ok: ok ?? (status === 'promoted' || status === 'unchanged'),
      reason,
      stableRelease: status === 'promoted' ? this.canaryRelease : this.stableRelease,
      canaryRelease: this.canaryRelease,
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
  const what =
    r.kind === 'precheck' ? 'pre-traffic check (pinned, 0% users)' : `step ${r.index + 1} ${r.weight}%`;
  const parts = [`${what}: ${r.verdict}`, `requests ${r.total.requests}`];
  if (r.stable || r.canary) parts.push(`stable ${pct(r.stable)}`, `canary ${pct(r.canary)}`);
  else parts.push(`success ${pct(r.total)}`);
  const p95 = r.canary?.p95Ms ?? r.total.p95Ms;
  if (p95 !== undefined) parts.push(`p95 ${Math.round(p95)} ms`);
  if (r.observedCanaryShare !== undefined)
    parts.push(`split ${(100 * r.observedCanaryShare).toFixed(1)}% canary`);
  if (r.reason) parts.push(r.reason);
  return parts.join(', ');
}
