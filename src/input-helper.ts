// Reads and validates every action input once -> Settings. No cluster access.
//
// parseInputs() is the pure core (only file-existence checks touch the disk): it registers every
// secret in the SecretRegistry, parses each input with its entry in src/inputs/table.ts, applies
// the rules that involve several inputs, and throws ONE InputError listing every problem, one per
// line, so a user can fix all at once. getInputs() reads the inputs from the runner, masks each
// registered secret with core.setSecret, emits the warnings with core.warning, and calls it.
//
// Error lines look like:
//   Input 'steps': "10,5,100" is not strictly ascending (5 after 10); use comma-separated ...
// Secret inputs are never echoed, and every message passes through the registry's redaction.

import * as core from '@actions/core';
import type { Settings } from './lib/types.js';
import { SecretRegistry } from './lib/secrets.js';
import { contextFor, Problems } from './inputs/parsers.js';
import { crossRules, INPUTS, textOf, type InputEnv, type InputValues } from './inputs/table.js';

export type { InputEnv } from './inputs/table.js';
export { parseKubeconfig } from './inputs/parsers.js';

/** One or more invalid inputs. `problems` has one entry per problem; message joins them by '\n'. */
export class InputError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'InputError';
    this.problems = problems;
  }
}

/** Every input of action.yml, in its order. */
export const INPUT_NAMES: readonly string[] = INPUTS.map((s) => s.name);

/** Every input with the default the code applies when it is empty. */
export const INPUT_DEFAULTS: Readonly<Record<string, string>> = Object.fromEntries(
  INPUTS.map((s) => [s.name, s.default]),
);

/** Raw input strings as the runner passes them; missing or blank means "use the default". */
export type RawInputs = Readonly<Record<string, string | undefined>>;

/**
 * Validates raw input strings and builds Settings. Every secret in them is registered in `secrets`
 * first, even when validation then fails. Throws one InputError listing every problem.
 */
export function parseInputs(raw: RawInputs, env: InputEnv, secrets = new SecretRegistry()): Settings {
  registerSecrets(raw, secrets);
  const cwd = env.cwd ?? process.cwd();
  const problems = new Problems();
  const values: Record<string, unknown> = {};
  for (const spec of INPUTS) {
    const given = (raw[spec.name] ?? '').trim();
    const c = contextFor(spec, problems, cwd);
    let value = given === '' ? undefined : spec.parse(given, c);
    // An invalid input with a default takes its default, so the rules after the table need no
    // fallbacks of their own (the error is reported all the same).
    if (value === undefined && spec.default !== '') value = spec.parse(spec.default, c);
    values[spec.name] = value;
  }
  const v = values as InputValues;
  const derived = crossRules(v, raw, env, problems);
  if (problems.errors.length > 0) throw new InputError(problems.errors.map((e) => secrets.redact(e)));

  return {
    command: v.command,
    chart: v.chart?.ref,
    chartVersion: v['chart-version'],
    release: v.release ?? '',
    version: derived.version,
    canaryRelease: derived.canaryRelease,
    namespace: v.namespace,
    valuesFiles: v['values-files'] ?? [],
    set: v.set ?? [],
    helmArgs: v['helm-args'] ?? [],
    virtualService: v['virtual-service']?.[0] ?? '',
    virtualServices: v['virtual-service'] ?? [],
    destinationRule: v['destination-rule'],
    subsetLabel: v['subset-label'],
    httpRoute: v['http-route'],
    route: v.route,
    service: v.service,
    steps: derived.steps,
    intervalMs: v.interval,
    verify: {
      url: v['verify-url'],
      host: v['verify-host']?.[0],
      ...(v['verify-host'] && v['verify-host'].length > 1 ? { hosts: v['verify-host'] } : {}),
      headers: v['verify-headers'] ?? {},
      statuses: v['verify-status'],
      body: v['verify-body'],
      rps: v['verify-rps'],
      timeoutMs: v['verify-timeout'],
      successRate: v['success-rate'] / 100,
      maxLatencyMs: v['max-latency'],
      command: v['verify-command'],
      canaryMatch: v['canary-match'],
      ca: v['verify-ca'],
    },
    precheckMs: v.precheck,
    canaryHeader: v['canary-header'],
    settleMs: v.settle,
    maxBakeMs: v['max-bake'],
    drainMs: v.drain,
    allowUnverified: v['allow-unverified'],
    ...(v.metrics && v['prometheus-url']
      ? {
          metrics: {
            url: v['prometheus-url'],
            metrics: v.metrics,
            intervalMs: v['metrics-interval'],
            token: v['prometheus-token'],
          },
        }
      : {}),
    onFailure: v['on-failure'],
    promotion: v.promotion,
    cleanup: v.cleanup,
    helmTimeoutMs: v['helm-timeout'],
    timeoutMs: v.timeout,
    lockTimeoutMs: v['lock-timeout'],
    kubeconfig: v.kubeconfig?.text,
    context: v.context,
    dryRun: v['dry-run'],
    githubToken: v['github-token'],
    comment: v.comment,
    prNumber: v['pr-number'],
    warnings: problems.warnings.map((w) => secrets.redact(w)),
    secrets,
  };
}

/** A secret input's whole value, plus the secret parts the table names (e.g. each `set` line). */
function registerSecrets(raw: RawInputs, secrets: SecretRegistry): void {
  for (const spec of INPUTS) {
    const value = textOf(spec.name, raw);
    if (value === '') continue;
    if (spec.secret) secrets.add(value, spec.name);
    if (spec.secrets) secrets.addAll(spec.secrets(value), spec.name);
  }
}

/** Reads every input of action.yml, masks secrets, emits warnings, returns validated Settings. */
export async function getInputs(): Promise<Settings> {
  const raw: Record<string, string> = {};
  for (const spec of INPUTS) {
    raw[spec.name] = spec.multiline ? core.getMultilineInput(spec.name).join('\n') : core.getInput(spec.name);
  }
  const secrets = new SecretRegistry();
  secrets.onAdd((value) => core.setSecret(value));
  const e = process.env;
  const settings = parseInputs(
    raw,
    {
      refType: e.GITHUB_REF_TYPE,
      refName: e.GITHUB_REF_NAME,
      ref: e.GITHUB_REF,
      sha: e.GITHUB_SHA,
      eventName: e.GITHUB_EVENT_NAME,
    },
    secrets,
  );
  for (const w of settings.warnings ?? []) core.warning(w);
  return settings;
}
