// Runs helm/kubectl as argument arrays (never a shell string), always silent so that values,
// kubeconfig content and tokens never reach the log; callers log their own redacted line.
import * as exec from '@actions/exec';
import type { SecretRegistry } from '../lib/secrets.js';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  input?: string;
}

/** Runs `tool args…` with exec's `silent: true` and `ignoreReturnCode: true`. */
export async function runTool(tool: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const options: exec.ExecOptions = { silent: true, ignoreReturnCode: true };
  if (opts.env) options.env = mergedEnv(opts.env);
  if (opts.input !== undefined) options.input = Buffer.from(opts.input);
  const r = await exec.getExecOutput(tool, args, options);
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** @actions/exec replaces the whole environment when `env` is given: start from process.env. */
export function mergedEnv(extra: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) out[k] = v;
  return { ...out, ...extra };
}

/** Quotes an argument for display only (the log line), never for execution. */
export function displayArg(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./\-*]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function displayCommand(tool: string, args: string[]): string {
  return [tool, ...args].map(displayArg).join(' ');
}

/** The command line for the log, every registered secret replaced (argument by argument). */
export function redactedCommand(tool: string, args: string[], secrets: SecretRegistry): string {
  return displayCommand(
    tool,
    args.map((a) => secrets.redact(a)),
  );
}

/** Last non-empty lines of a tool's stderr, trimmed, for error messages. */
export function tail(text: string, maxLines = 20): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
  return lines.slice(-maxLines).join('\n');
}
