// The report of one run: written as JSON (output `report-json`), rendered as job summary and PR
// comment. Pure data, no I/O.

import type { MetricsStepFigures, StepEvidenceFigures, StreamFigures, VersionFigures } from '../lib/types.js';

export type { StepEvidenceFigures, StreamFigures, VersionFigures };

export type Verdict = 'passed' | 'failed' | 'running' | 'skipped';

export interface StepReport {
  /**
   * 'precheck': the pre-traffic check (pinned probes before any user weight), shown as step 0,
   * with index -1 and weight 0. Absent for a step of the plan.
   */
  kind?: 'precheck';
  /** 0-based position in the step plan (-1 for the pre-traffic check). */
  index: number;
  weight: number;
  bakeMs: number;
  startedAt: string; // ISO
  endedAt?: string; // ISO
  /** All probe responses of the step. */
  total: VersionFigures;
  /** The users' responses of the stable (with canary-match). */
  stable?: VersionFigures;
  /** Responses known to come from the canary: pinned probes, and with canary-match the users' ones. */
  canary?: VersionFigures;
  /** Observed canary share of responses (0..1), when canary-match is set. */
  observedCanaryShare?: number;
  /** Binomial tolerance interval for the canary share, [low, high] in 0..1. */
  expectedShareRange?: [number, number];
  verdict: Verdict;
  reason?: string;
  /** The evidence behind the verdict per version (responses, failures, decision, confidence). */
  evidence?: StepEvidenceFigures;
  /** The metrics signal (with `metrics`): per version requests, errors, p95 and the query. */
  metrics?: MetricsStepFigures;
  /** How long past its bake the step ran because the evidence was inconclusive (ms, up to max-bake). */
  extendedMs?: number;
  /** Progress samples for the chart: elapsed seconds since run start, canary success 0..1. */
  samples?: Array<{ t: number; weight: number; canarySuccess?: number }>;
}

/** How a run ended; `progressing` and `none` are recorded states that `command: status` reports. */
export type Outcome =
  'promoted' | 'paused' | 'rolled-back' | 'failed' | 'unchanged' | 'running' | 'progressing' | 'none';

export interface ReleaseInfo {
  release?: string;
  chart?: string;
  chartVersion?: string;
  appVersion?: string;
  service?: string;
}

/** The baseline: the current stable probed as users reach it, before anything was installed. */
export interface BaselineReport {
  verdict: 'passed' | 'failed' | 'cancelled';
  reason: string;
  total: VersionFigures;
}

export interface RunReport {
  command: string;
  namespace: string;
  /** Base release name (settings.release): keys the PR comment marker, stable across versions. */
  release?: string;
  /** The routing object whose weights the run moves, e.g. { kind: 'VirtualService', name: 'shop' }. */
  routing: {
    kind: string;
    /** The object's name; with several objects, their names joined by ", ". */
    name: string;
    /** Several routing objects: each one, in the order they are written. */
    objects?: Array<{ kind: string; name: string }>;
    /** Subset mode: the registry of the versions (e.g. the DestinationRule). */
    versions?: { kind: string; name: string };
  };
  route?: string;
  stable: ReleaseInfo;
  canary: ReleaseInfo;
  outcome: Outcome;
  /** One sentence. */
  reason: string;
  startedAt: string;
  endedAt?: string;
  /** Set when the run probed the current stable before installing. */
  baseline?: BaselineReport;
  steps: StepReport[];
  /** True when nothing verified the run (allow-unverified: true without verify-url or verify-command). */
  unverified?: boolean;
  warnings: string[];
  runUrl?: string;
  dryRun: boolean;
  helmVersion?: string;
  kubectlVersion?: string;
}
