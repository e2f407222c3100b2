// What the rollout loop asks of verification (the baseline, the pre-traffic check, one step at a
// time), and its implementation bound to the settings of this run.
import type { Settings } from '../lib/types.js';
import { pinnedShare } from './analysis.js';
import { describeProgress, verifyBaseline, verifyStep, type StepVerification } from './step-verifier.js';

export interface VerifyRequest {
  /**
   * 'baseline': the current stable as users reach it, before anything is installed (a short
   * burst); 'precheck': pinned probes only, before any user weight; 'step' (default): a weight of
   * the plan, pinned and users' probes alternating.
   */
  phase?: 'baseline' | 'precheck' | 'step';
  step: number;
  weight: number;
  bakeMs: number;
  /** Longest the step may run while the evidence is inconclusive (default bakeMs). */
  maxBakeMs?: number;
  /** Probing during this long after the routing change is not judged. */
  settleMs?: number;
  /** Baseline with nothing live behind the route (a first deployment): only check that verify-url answers. */
  reachabilityOnly?: boolean;
  /** The header (and value) that pins a probe to the canary; unset: no pinned probes. */
  pin?: { header: string; value: string };
  signal: AbortSignal;
  canaryRelease: string;
  stableRelease?: string;
  /** Called every few seconds with a one-line progress message. */
  progress: (line: string) => void;
}

/** Verifies one step (probing, verify-command). */
export type VerifyFn = (
  r: VerifyRequest,
) => Promise<Pick<StepVerification, 'verdict' | 'reason' | 'total'> & Partial<StepVerification>>;

export interface VerifierOptions {
  /** Origin of the report samples' time axis (epoch ms). Default now. */
  runStart?: number;
  /** The run's kubeconfig file, for the verify-command's KUBECONFIG. */
  kubeconfigPath?: string;
}

export function createVerifier(settings: Settings, o: VerifierOptions = {}): VerifyFn {
  const runStart = o.runStart ?? Date.now();
  const redact = (t: string): string => settings.secrets.redact(t);
  return (r) => {
    if (r.phase === 'baseline')
      return verifyBaseline({
        verify: settings.verify,
        signal: r.signal,
        reachabilityOnly: r.reachabilityOnly,
      });
    const precheck = r.phase === 'precheck';
    return verifyStep({
      verify: settings.verify,
      // Every probe of the pre-traffic check is pinned: judged as the canary alone.
      weight: precheck ? 100 : r.weight,
      bakeMs: r.bakeMs,
      maxBakeMs: r.maxBakeMs,
      settleMs: r.settleMs,
      pin: r.pin ? { ...r.pin, ...pinMode(r, settings, precheck) } : undefined,
      // The pre-traffic check is probes only: verify-command runs with the user weights.
      runCommand: !precheck,
      signal: r.signal,
      timeOrigin: runStart,
      onProgress: (p) => r.progress(describeProgress(p)),
      onExtend: (line) => r.progress(line),
      facts: {
        canaryRelease: r.canaryRelease,
        stableRelease: r.stableRelease,
        namespace: settings.namespace,
      },
      kubeconfigPath: o.kubeconfigPath,
      redact,
      // A verify-command may not outlive the run's own time limit.
      commandTimeoutMs: settings.timeoutMs,
    });
  };
}

/**
 * Every probe of the pre-traffic check is pinned; at a weight, half of them — more when the rate is
 * too low for the canary's evidence to arrive by max-bake (analysis.ts pinnedShare).
 */
function pinMode(
  r: VerifyRequest,
  settings: Settings,
  precheck: boolean,
): { mode: 'all' | 'alternate'; share?: number } {
  if (precheck) return { mode: 'all' };
  const share = pinnedShare({
    rps: settings.verify.rps,
    weight: r.weight,
    maxBakeMs: r.maxBakeMs ?? r.bakeMs,
    successRate: settings.verify.successRate,
  });
  return { mode: 'alternate', share };
}
