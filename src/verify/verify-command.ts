// The user's verify-command, run once per step after the probing passed, by `bash -c`.
// The step's facts reach it ONLY as environment variables (CANARY_WEIGHT, CANARY_RELEASE,
// STABLE_RELEASE, NAMESPACE); they are never spliced into the command text, so no value can be
// interpreted as shell syntax.

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
): Promise<VerifyCommandResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, facts);

  const started = Date.now();
  process.stdout.write(`[command]${displayCommand('bash', ['-c', command])}\n`);
  const out = await runTool('bash', ['-c', command], {
    env,
    signal,
    timeoutMs: timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : undefined,
    killAfterMs: VERIFY_KILL_AFTER_MS,
    onOutput: (chunk) => process.stdout.write(chunk),
  });
  const durationMs = Date.now() - started;
  const r: VerifyCommandResult = {
    exitCode: out.exitCode,
    outputTail: tail(`${out.stdout}${out.stderr ? `\n${out.stderr}` : ''}`),
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
