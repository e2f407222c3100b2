// Binds verifyStep to the settings of this run, in the shape the rollout loop asks for.
import type { VerifyFn } from '../rollout/rollout.js';
import type { Settings } from '../lib/types.js';
import { describeProgress, verifyStep } from './step-verifier.js';

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
