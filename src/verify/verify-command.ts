// The user's verify-command, run once per step after the probing passed, by `bash -c`.
// The step's facts reach it ONLY as environment variables (CANARY_WEIGHT, CANARY_RELEASE,
// STABLE_RELEASE, NAMESPACE); they are never spliced into the command text, so no value can be
// interpreted as shell syntax.

import { getExecOutput } from '@actions/exec';

export interface VerifyCommandFacts {
  CANARY_WEIGHT: string;
  CANARY_RELEASE: string;
  STABLE_RELEASE: string;
  NAMESPACE: string;
}

export interface VerifyCommandResult {
  /** The command's exit code; on timeout the signal's code (143/137), with timedOut set. */
  exitCode: number;
  /** The last lines of stdout + stderr (at most ~20 lines / 2000 characters), for the report. */
  outputTail: string;
  timedOut: boolean;
  durationMs: number;
}

const TAIL_LINES = 20;
const TAIL_CHARS = 2000;

// Watchdog used when a timeout is given. Fixed text: the command arrives as $1 and the timeout in
// seconds as $2. `set -m` puts the command in its own process group, so the whole tree (curl,
// sleep, ...) is signalled: TERM at the timeout, KILL 5 s later.
const WATCHDOG = [
  'set -m',
  'bash -c "$1" &',
  'cmd=$!',
  '( sleep "$2"; kill -TERM -- -"$cmd"; sleep 5; kill -KILL -- -"$cmd" ) >/dev/null 2>&1 &',
  'dog=$!',
  'set +m', // both groups exist now; no job-control notices ("[1] Exit 4") in the output
  'wait "$cmd"; rc=$?',
  'kill -- -"$dog" >/dev/null 2>&1',
  'exit "$rc"',
].join('\n');

/**
 * Run `command` with bash -c and the facts in its environment. Never throws for a failing
 * command (ignoreReturnCode); the caller decides (a non-zero exit fails the step).
 */
export async function runVerifyCommand(
  command: string,
  facts: VerifyCommandFacts,
  timeoutMs?: number,
): Promise<VerifyCommandResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, facts);

  const started = Date.now();
  const args =
    timeoutMs !== undefined && timeoutMs > 0
      ? ['-c', WATCHDOG, 'helm-canary-verify', command, (timeoutMs / 1000).toFixed(3)]
      : ['-c', command];
  const out = await getExecOutput('bash', args, { env, ignoreReturnCode: true });
  const durationMs = Date.now() - started;
  const timedOut =
    timeoutMs !== undefined &&
    timeoutMs > 0 &&
    (out.exitCode === 143 || out.exitCode === 137) &&
    durationMs >= timeoutMs;
  return {
    exitCode: out.exitCode,
    outputTail: tail(`${out.stdout}${out.stderr ? `\n${out.stderr}` : ''}`),
    timedOut,
    durationMs,
  };
}

export function tail(text: string): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  let t = lines.slice(-TAIL_LINES).join('\n');
  if (t.length > TAIL_CHARS) t = `…${t.slice(-TAIL_CHARS)}`;
  return t;
}
