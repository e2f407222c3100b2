// Types shared by several layers (main, rollout, router, verify, report, kube). This module sits
// at the bottom of the import graph (it imports only lib/secrets.ts): the typed Settings that
// input-helper.ts builds from the action inputs (nothing else calls core.getInput), the
// per-version figures that verification produces and reports show, and the logger every layer
// writes to.

import type { SecretRegistry } from './secrets.js';

export type Command = 'rollout' | 'promote' | 'rollback' | 'status';

export interface Step {
  /** Canary weight in percent, 1..100. */
  weight: number;
  /** Bake time of this step in milliseconds. */
  bakeMs: number;
  /**
   * Longest the step may run while its evidence is inconclusive at the end of the bake (ms, at
   * least bakeMs). Unset: three times the bake.
   */
  maxBakeMs?: number;
}

/** How a response is recognised as coming from the canary. */
export type CanaryMatch = { kind: 'header'; name: string; value: string } | { kind: 'body'; pattern: RegExp };

/** Accepted HTTP statuses: inclusive ranges. */
export type StatusRanges = Array<[number, number]>;

export interface VerifySettings {
  url?: string;
  /** Host header of the probes (the first of `hosts` when several are given). */
  host?: string;
  /**
   * Several hosts (input 'verify-host', one per line): e.g. the public host of a gateway
   * VirtualService and the in-mesh host of another. Probes take them in turn, pinned and users'
   * probes each, so every host's path is probed at every step.
   */
  hosts?: string[];
  headers: Record<string, string>;
  statuses: StatusRanges;
  body?: RegExp;
  rps: number;
  timeoutMs: number;
  /** Minimum fraction (0..1) of good responses. */
  successRate: number;
  /** Maximum p95 latency in ms, if set. */
  maxLatencyMs?: number;
  command?: string;
  canaryMatch?: CanaryMatch;
  /** PEM CA bundle for https probes (replaces the default roots), from `verify-ca`. */
  ca?: string;
}

/** One entry of the `metrics` input: a built-in, or a custom PromQL query with bounds. */
export type MetricSpec =
  | { kind: 'builtin'; name: 'request-success-rate' | 'request-duration' }
  | { kind: 'custom'; name: string; query: string; min?: number; max?: number };

/** What Prometheus gave for one version in a step (the report's metrics table). */
export interface MetricsVersionFigures {
  requests?: number;
  errors?: number;
  p95Ms?: number;
  /** Whose series: the destination sidecar's, or the gateway's when the workload has none. */
  reporter?: 'destination' | 'source';
  /** The requests query used. */
  query: string;
}

/** The metrics signal of one step. */
export interface MetricsStepFigures {
  canary?: MetricsVersionFigures;
  stable?: MetricsVersionFigures;
  custom: Array<{ name: string; query: string; value?: number; min?: number; max?: number }>;
  verdict: 'passed' | 'failed' | 'inconclusive';
}

/** Metrics analysis (`prometheus-url`, `metrics`, `metrics-interval`, `prometheus-token`). */
export interface MetricsSettings {
  /** http(s)://… or k8s://NAMESPACE/SERVICE:PORT (through the Kubernetes API service proxy). */
  url: string;
  metrics: MetricSpec[];
  /** Query window and cadence (ms). */
  intervalMs: number;
  /** Secret: bearer token for a direct http(s) Prometheus. */
  token?: string;
}

export interface Settings {
  command: Command;
  chart?: string;
  chartVersion?: string;
  /** Base name of the app. */
  release: string;
  /** Version being rolled out (tag name or short SHA). */
  version: string;
  /** The new Helm release name: `<release>-<slug of version>`, valid Helm name, <= 53 chars. */
  canaryRelease: string;
  namespace: string;
  valuesFiles: string[];
  /** Secret: never log. key=value pairs for `helm --set`. */
  set: string[];
  helmArgs: string[];
  /** The first of `virtualServices` (the one routing object of most runs). */
  virtualService: string;
  /** Every VirtualService of the run, in input order: all are stepped and restored together. */
  virtualServices: string[];
  /** Subset mode: the DestinationRule of the shared Service (input 'destination-rule'). */
  destinationRule?: string;
  /** Subset mode: the pod label whose value names the release. */
  subsetLabel: string;
  /** Input 'http-route': a Gateway API HTTPRoute instead of the VirtualService. */
  httpRoute?: string;
  route?: string;
  service?: string;
  steps: Step[];
  intervalMs: number;
  verify: VerifySettings;
  /** Pre-traffic check: pinned probes of the canary before any user weight (ms, 0 = off). */
  precheckMs: number;
  /** Header that pins a probe to the canary (its value: the canary release name). */
  canaryHeader: string;
  /** Wait after each routing change before its probes are judged (ms). */
  settleMs: number;
  /** `max-bake` as given (ms); unset: three times each bake (the steps carry their own). */
  maxBakeMs?: number;
  /** Wait before uninstalling a release that just lost all its traffic (ms). */
  drainMs: number;
  /** Metrics analysis, when `metrics` is set (with `prometheus-url`). */
  metrics?: MetricsSettings;
  /** `allow-unverified: true`: neither verify-url nor verify-command is set, and that is wanted. */
  allowUnverified: boolean;
  onFailure: 'rollback' | 'pause';
  promotion: 'auto' | 'manual';
  cleanup: boolean;
  helmTimeoutMs: number;
  timeoutMs: number;
  /** How long to wait for another run's lock on the routing object (0 = fail at once). */
  lockTimeoutMs: number;
  /** Secret: kubeconfig content. */
  kubeconfig?: string;
  context?: string;
  dryRun: boolean;
  githubToken?: string;
  /** Post/update a pull-request comment (reports issue). */
  comment: boolean;
  prNumber?: number;
  /** Non-fatal input problems found by input-helper (already emitted as core.warning by getInputs). */
  warnings?: string[];
  /** Every secret value of the inputs, registered once while parsing them; all output redacts with it. */
  secrets: SecretRegistry;
}

/** Responses of one version (or of all) during a step. */
export interface VersionFigures {
  requests: number;
  good: number;
  bad: number;
  p50Ms?: number;
  p95Ms?: number;
}

/** One stream's evidence in a step, as reports show it. */
export interface StreamFigures {
  responses: number;
  failures: number;
  /** 'continue': still running; 'inconclusive': not enough evidence either way. */
  decision: 'pass' | 'fail' | 'continue' | 'inconclusive';
  /**
   * 1 - the bound on the probability that this decision is wrong (a pass of a clearly worse
   * canary, a fail of a good one), when the decision rests on a test; absent otherwise.
   */
  confidence?: number;
  /** Which test decided: 'sequential', 'guard', 'binomial', 'insufficient'. */
  test?: string;
}

/** The evidence behind a step's verdict, per version. */
export interface StepEvidenceFigures {
  /** Pinned probes + users' responses attributed to the canary (when trusted). */
  canary: StreamFigures & { pinned: number; attributed: number; needed: number };
  /** With canary-match: users' responses attributed to the stable. */
  stable?: StreamFigures;
  /** Every unpinned response, attributed or not. */
  users: StreamFigures & { unattributed: number };
}

/** Where every layer logs (core.info/warning/group in the action, an array in tests). */
export interface Logger {
  info(message: string): void;
  warning(message: string): void;
  startGroup(name: string): void;
  endGroup(): void;
}
