// The user's verify-command, run once per step after the probing passed, by `bash -c`.
// The step's facts reach it ONLY as environment variables (CANARY_WEIGHT, CANARY_RELEASE,
// STABLE_RELEASE, NAMESPACE); they are never spliced into the command text, so no value can be
// interpreted as shell syntax. Its environment is the runner's without the action's inputs
// (INPUT_*, which hold the kubeconfig, the GitHub token and `set` values) and without the runner's
// own credentials; KUBECONFIG is the run's kubeconfig. Its output reaches the log and the reports
// only through the secret registry's redaction.

import { displayCommand, runTool } from '../kube/exec-util.js';

export interface VerifyCommandFacts {
  CANARY_WEIGHT: string;
  CANARY_RELEASE: string;
  STABLE_RELEASE: string;
  NAMESPACE: string;
}

export interface VerifyCommandResult {
  /** The command's exit code; on timeout or cancel the signal's code (143/137). */
  exitCode: number;
  /** The last lines of stdout + stderr (at most ~20 lines / 2000 characters), for the report. */
  outputTail: string;
  timedOut: boolean;
  /** Set when the abort signal stopped the command (the run was cancelled). */
  cancelled?: boolean;
  durationMs: number;
}

/** Runner credentials a user's command never gets (besides every INPUT_* variable). */
export const WITHHELD_ENV = [
  'ACTIONS_RUNTIME_TOKEN',
  'ACTIONS_RUNTIME_URL',
  'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
  'ACTIONS_ID_TOKEN_REQUEST_URL',
  'ACTIONS_CACHE_URL',
  'ACTIONS_RESULTS_URL',
  'GITHUB_TOKEN',
];

export interface VerifyCommandOptions {
  /** The run's kubeconfig file (the `kubeconfig` input); default the inherited KUBECONFIG. */
  kubeconfigPath?: string;
  /** Applied to every text of the command that is shown (its output, its command line). */
  redact?: (text: string) => string;
}

/** The command's whole environment: `base` without inputs and runner credentials, plus the facts. */
export function commandEnv(
  base: NodeJS.ProcessEnv,
  facts: VerifyCommandFacts,
  kubeconfigPath?: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v === undefined || /^INPUT_/i.test(k) || WITHHELD_ENV.includes(k.toUpperCase())) continue;
    env[k] = v;
  }
  if (kubeconfigPath) env.KUBECONFIG = kubeconfigPath;
  return { ...env, ...facts };
}

const TAIL_LINES = 20;
const TAIL_CHARS = 2000;

/** Grace between SIGTERM and SIGKILL of the command's process group (timeout or cancel). */
export const VERIFY_KILL_AFTER_MS = 5000;

/**
 * Run `command` with bash -c and the facts in its environment. Never throws for a failing
 * command; the caller decides (a non-zero exit fails the step). bash leads its own process group,
 * so the timeout and the abort signal stop the whole tree (curl, sleep, ...): SIGTERM, then SIGKILL
 * 5 s later. Its output is echoed to the log as it arrives.
 */
export async function runVerifyCommand(
  command: string,
  facts: VerifyCommandFacts,
  timeoutMs?: number,
  signal?: AbortSignal,
  o: VerifyCommandOptions = {},
): Promise<VerifyCommandResult> {
  const redact = o.redact ?? ((t: string) => t);
  const env = commandEnv(process.env, facts, o.kubeconfigPath);

  const started = Date.now();
  process.stdout.write(`[command]${redact(displayCommand('bash', ['-c', command]))}\n`);
  // Echoed line by line, so a secret split across two chunks is still redacted whole.
  const pending = { stdout: '', stderr: '' };
  const echo = (stream: 'stdout' | 'stderr', chunk: string): void => {
    const text = pending[stream] + chunk;
    const cut = text.lastIndexOf('\n') + 1;
    pending[stream] = text.slice(cut);
    if (cut > 0) process.stdout.write(redact(text.slice(0, cut)));
  };
  const out = await runTool('bash', ['-c', command], {
    env,
    inheritEnv: false,
    signal,
    timeoutMs: timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : undefined,
    killAfterMs: VERIFY_KILL_AFTER_MS,
    onOutput: (chunk, stream) => echo(stream, chunk),
  });
  for (const stream of ['stdout', 'stderr'] as const)
    if (pending[stream]) process.stdout.write(`${redact(pending[stream])}\n`);
  const durationMs = Date.now() - started;
  const r: VerifyCommandResult = {
    exitCode: out.exitCode,
    // Redacted before it is shortened, so no cut can leave part of a secret behind.
    outputTail: tail(redact(`${out.stdout}${out.stderr ? `\n${out.stderr}` : ''}`)),
    timedOut: out.timedOut === true,
    durationMs,
  };
  if (out.aborted) r.cancelled = true;
  return r;
}

export function tail(text: string): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  let t = lines.slice(-TAIL_LINES).join('\n');
  if (t.length > TAIL_CHARS) t = `…${t.slice(-TAIL_CHARS)}`;
  return t;
}
