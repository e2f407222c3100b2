import * as core from '@actions/core';
import * as github from '@actions/github';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getInputs } from './input-helper.js';
import { preflightAccess } from './kube/access-helper.js';
import { createHelm, type IHelm } from './kube/helm-helper.js';
import { createKubectl, type IKubectl, type KubeOptions } from './kube/kubectl-helper.js';
import { acquireLease } from './kube/lease-helper.js';
import { accessNeeds } from './router/access-needs.js';
import { createRouter } from './router/factory.js';
import {
  runRecovery,
  runRollout,
  type RolloutDeps,
  type RolloutLock,
  type RolloutResult,
} from './rollout/rollout.js';
import { createVerifier, type VerifyFn } from './verify/verifier.js';
import { metricsPreflight, thresholdsFor, type MetricsTargets } from './metrics/metrics-helper.js';
import { withMetrics } from './metrics/metrics-verifier.js';
import { createPrometheus } from './metrics/prometheus-helper.js';
import { Reporter } from './report/reporter.js';
import type { SecretRegistry } from './lib/secrets.js';
import type { Logger, Settings } from './lib/types.js';

/**
 * Entry point of the action, for the main step and the post step (`post-if: always()`). Never
 * throws: every failure ends in core.setFailed. The main step records that it started and that it
 * ended; a post step that finds no end (the runner killed the main step, or it ran out of memory)
 * restores the stable release; otherwise it does nothing.
 */
export async function run(): Promise<void> {
  const post = core.getState(STATE_STARTED) === 'true';
  if (post && core.getState(STATE_ENDED) === 'true') return;
  if (!post) core.saveState(STATE_STARTED, 'true');
  let kubeconfigFile: string | undefined;
  let secrets: SecretRegistry | undefined;
  const cleanups: Array<() => void> = [];
  try {
    const settings = await getInputs();
    secrets = settings.secrets;
    const log: Logger = {
      info: (m) => core.info(m),
      warning: (m) => core.warning(m),
      startGroup: (n) => core.startGroup(n),
      endGroup: () => core.endGroup(),
    };

    kubeconfigFile = writeKubeconfig(settings);
    const kubeOpts: KubeOptions = {
      kubeconfigPath: kubeconfigFile,
      context: settings.context,
      namespace: settings.namespace,
      secrets: settings.secrets,
    };
    const [helm, kubectl] = await Promise.all([createHelm(kubeOpts), createKubectl(kubeOpts)]);

    // Cancellation (the runner sends SIGINT, then SIGTERM) and the overall timeout abort the run;
    // the rollout loop then puts all traffic back on stable before anything else.
    const controller = new AbortController();
    const onSignal = (sig: string) => () => {
      core.warning(`Received ${sig}: the run was cancelled; restoring traffic to the stable release.`);
      controller.abort(new Error(`The run was cancelled (${sig}).`));
    };
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = onSignal(sig);
      process.on(sig, h);
      cleanups.push(() => process.off(sig, h));
    }
    const timer = setTimeout(
      () => controller.abort(new Error(`The run exceeded its timeout of ${settings.timeoutMs / 1000}s.`)),
      settings.timeoutMs,
    );
    cleanups.push(() => clearTimeout(timer));

    const reporter = await Reporter.create(settings, github.context, log);
    const metrics = settings.metrics ? metricsSignal(settings, kubectl, helm, log) : undefined;
    const verify = createVerifier(settings, { kubeconfigPath: kubeconfigFile });
    const deps: RolloutDeps = {
      settings,
      helm,
      kubectl,
      createRouter: ({ stableHostOf }) =>
        createRouter({
          kubectl,
          namespace: settings.namespace,
          virtualService: settings.virtualService,
          virtualServices: settings.virtualServices,
          destinationRule: settings.destinationRule,
          subsetLabel: settings.subsetLabel,
          httpRoute: settings.httpRoute,
          route: settings.route,
          helmMajor: helm.major,
          logger: log,
          stableHostOf,
        }),
      // verify-command gets the run's kubeconfig (the input's temp file), else the inherited one.
      verify: metrics ? metrics.wrap(verify) : verify,
      log,
      signal: controller.signal,
      runUrl: reporter.runUrl,
      onUpdate: (report, final) => reporter.update(report, final),
      lock: leaseLock(kubectl, settings, reporter.runUrl, controller.signal),
      ...(metrics ? { preflightChecks: metrics.preflight } : {}),
      checkAccess: () => preflightAccess(kubectl, accessNeeds(settings), settings.namespace, log),
    };
    if (post) core.warning('The main step did not end cleanly; checking whether traffic must be restored.');
    const result = await (post ? runRecovery(deps) : runRollout(deps));
    await finish(result, reporter);
  } catch (err) {
    // Input errors are redacted already; a helm/kubectl error may quote a secret it was given.
    const text = err instanceof Error ? err.message : String(err);
    const message = secrets ? secrets.redact(text) : text;
    core.setOutput('status', 'failed');
    // Only errors before the rollout starts land here (inputs, missing binaries): nothing changed.
    core.setFailed(message);
    await writeErrorSummary(message);
  } finally {
    for (const c of cleanups) c();
    if (kubeconfigFile) fs.rmSync(kubeconfigFile, { force: true });
    if (!post) core.saveState(STATE_ENDED, 'true');
  }
}

/**
 * The metrics signal: its preflight (every query validated before install; it also learns the
 * canary's and the stable's workloads) and the step verifier that judges them beside the probes.
 */
function metricsSignal(settings: Settings, kubectl: IKubectl, helm: IHelm, log: Logger) {
  const m = settings.metrics!;
  const prom = createPrometheus({ url: m.url, token: m.token, kubectl });
  let targets: MetricsTargets | undefined;
  return {
    preflight: metricsPreflight(prom, m, {
      namespace: settings.namespace,
      maxLatencyMs: settings.verify.maxLatencyMs,
      log: (l) => log.info(l),
      manifestOf: (release) => helm.getManifest(release, settings.namespace).catch(() => undefined),
      onTargets: (t) => (targets = t),
    }),
    wrap: (verify: VerifyFn) =>
      withMetrics(verify, {
        prom,
        metrics: m,
        thresholds: thresholdsFor(m, settings.verify.successRate, settings.verify.maxLatencyMs),
        maxLatencyMs: settings.verify.maxLatencyMs,
        targets: () => targets,
      }),
  };
}

/**
 * One rollout at a time per routing object: a Lease `helm-canary-<name>` per object, held by this
 * run's URL (the post step of the same run holds the same identity, so it can finish what the main
 * step left). With several objects every lease is taken, in name order (so two runs sharing
 * objects never wait for each other crosswise), and two runs sharing any one object exclude each other.
 */
function leaseLock(
  kubectl: IKubectl,
  s: Settings,
  runUrl: string | undefined,
  signal: AbortSignal,
): RolloutLock {
  const names = [...new Set(s.virtualServices.length ? s.virtualServices : [s.virtualService])].sort();
  // `helm-canary-<VirtualService>` (as before), `helm-canary-httproute-<HTTPRoute>`.
  const objects = s.httpRoute
    ? [{ lease: `helm-canary-httproute-${s.httpRoute}`, shown: `HTTPRoute ${s.httpRoute}` }]
    : names.map((name) => ({ lease: `helm-canary-${name}`, shown: name }));
  const locks = objects.map((object) => objectLease(kubectl, s, object, runUrl, signal));
  if (locks.length === 1) return locks[0];
  return {
    acquire: async () => {
      const held: Array<{ release(): Promise<void> }> = [];
      const notes: string[] = [];
      try {
        for (const l of locks) {
          const h = await l.acquire();
          held.push(h);
          if (h.tookOver) notes.push(h.tookOver);
        }
      } catch (err) {
        for (const h of held.reverse()) await h.release().catch(() => undefined);
        throw err;
      }
      return {
        release: async () => {
          let first: unknown;
          for (const h of [...held].reverse()) await h.release().catch((e: unknown) => (first ??= e));
          if (first) throw first;
        },
        tookOver: notes.length ? notes.join(' ') : undefined,
      };
    },
  };
}

function objectLease(
  kubectl: IKubectl,
  s: Settings,
  object: { lease: string; shown: string },
  runUrl: string | undefined,
  signal: AbortSignal,
): RolloutLock {
  const holder = runUrl ?? `${os.hostname()}/pid-${process.pid}`;
  return {
    acquire: async () => {
      const lease = await acquireLease(kubectl, {
        name: object.lease.slice(0, 253),
        namespace: s.namespace,
        holder,
        durationSeconds: LEASE_SECONDS,
        waitMs: s.lockTimeoutMs,
        signal,
        onWait: (other, ms) =>
          core.info(
            `Waiting for the lock held by ${other} (expires in ${Math.ceil(ms / 1000)} s at the latest).`,
          ),
        onLost: (info) =>
          core.warning(
            `The lock on ${object.shown} was lost (${info.reason}); weight writes stay guarded, so another run's changes are never overwritten.`,
          ),
        onRenewError: (e) =>
          core.debug(`Renewing the lock failed (retried): ${e instanceof Error ? e.message : String(e)}`),
      });
      const t = lease.tookOver;
      return {
        release: async () => void (await lease.release()),
        tookOver: t
          ? `Took over the lock on ${object.shown} from ${t.previousHolder}: it was not renewed for ${t.expiredForSeconds} s (that run's runner probably died).`
          : undefined,
      };
    },
  };
}

/** How long a lock lives without renewal (it is renewed every third of that while the run lives). */
const LEASE_SECONDS = 60;

/** Step state (GITHUB_STATE) that tells the post step how the main step ended. */
const STATE_STARTED = 'helm-canary-started';
const STATE_ENDED = 'helm-canary-ended';

async function finish(result: RolloutResult, reporter: Reporter): Promise<void> {
  core.setOutput('status', result.status);
  core.setOutput('stable-release', result.stableRelease ?? '');
  core.setOutput('canary-release', result.canaryRelease);
  core.setOutput('weight', String(result.weight));
  // A report problem never changes the outcome: the outputs above and the exit code below tell
  // what happened in the cluster.
  try {
    const { jsonPath, markdown } = await reporter.finish(result.report);
    core.setOutput('report-json', jsonPath);
    core.setOutput('summary', markdown);
  } catch (err) {
    core.warning(`Could not write the report: ${err instanceof Error ? err.message : String(err)}`);
  }
  // One line with the release, the step and the reason: what shows on the run page. The exit
  // code says whether the command did what was asked (a paused manual promotion did; an automatic
  // rollback of a failed canary did not).
  const line = reporter.oneLine(result.report);
  if (result.ok) core.info(line);
  else core.setFailed(line);
}

/** The `kubeconfig` input goes to a private temp file (mode 600), removed at the end. */
function writeKubeconfig(s: Settings): string | undefined {
  if (!s.kubeconfig) return undefined;
  const dir = fs.mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'helm-canary-'));
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, s.kubeconfig, { mode: 0o600 });
  return file;
}

async function writeErrorSummary(message: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  try {
    const lines = message
      .split('\n')
      .map((l) => `> ${l.replace(/[<>]/g, (c) => (c === '<' ? '&lt;' : '&gt;'))}`);
    await core.summary
      .addRaw(
        `### ❌ helm-canary did not start\n\n${lines.join('\n')}\n\nNothing in the cluster was changed.\n`,
        true,
      )
      .write();
  } catch {
    // The failure itself is already reported by setFailed.
  }
}
