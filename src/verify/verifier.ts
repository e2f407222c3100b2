// What the rollout loop asks of verification (one step at a time), and its implementation bound
// to the settings of this run.
import type { Settings } from '../lib/types.js';
import { describeProgress, verifyStep, type StepVerification } from './step-verifier.js';

export interface VerifyRequest {
  step: number;
  weight: number;
  bakeMs: number;
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

export function createVerifier(settings: Settings, runStart = Date.now()): VerifyFn {
  return (r) =>
    verifyStep({
      verify: settings.verify,
      weight: r.weight,
      bakeMs: r.bakeMs,
      signal: r.signal,
      timeOrigin: runStart,
      onProgress: (p) => r.progress(describeProgress(p)),
      facts: {
        canaryRelease: r.canaryRelease,
        stableRelease: r.stableRelease,
        namespace: settings.namespace,
      },
      // A verify-command may not outlive the run's own time limit.
      commandTimeoutMs: settings.timeoutMs,
    });
}
