// Runs helm/kubectl (and the user's verify-command) as argument arrays, never a shell string,
// silently so that values, kubeconfig content and tokens never reach the log; callers log their
// own redacted line.
//
// Each child leads its own process group (`detached: true`), so cancelling a run or hitting a
// timeout stops the whole tree the tool started (plugins, `bash -c` children, `sleep`s): SIGTERM
// to the group, SIGKILL to the group `killAfterMs` later if anything is still alive. A child's
// group that outlives its leader (a background process of a verify-command) is stopped the same
// way once the leader has exited, and every group still running when this process exits is
// killed, so no detached child is left orphaned behind the action.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { SecretRegistry } from '../lib/secrets.js';

export interface RunResult {
  /** The exit code; 128 + the signal number when a signal ended the tool (143 TERM, 137 KILL);
   * -1 when the tool never started because the signal was already aborted. */
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Set when `signal` aborted the run (the group was sent SIGTERM, then SIGKILL). */
  aborted?: boolean;
  /** Set when `timeoutMs` passed (the group was sent SIGTERM, then SIGKILL). */
  timedOut?: boolean;
}

export interface RunOptions {
  /** Added to (and overriding) process.env; with `inheritEnv: false` the whole environment. */
  env?: Record<string, string>;
  /** false: the tool gets `env` only, nothing of process.env. Default true. */
  inheritEnv?: boolean;
  /** Written to the tool's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string;
  /** Aborting stops the tool's whole process group. */
  signal?: AbortSignal;
  /** Stops the tool's whole process group after this many ms. */
  timeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL. Default 3000. */
  killAfterMs?: number;
  /** Sees the output as it arrives (e.g. to echo a user's command); default: nothing is echoed. */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Called once the tool runs, with its pid (= its process group id). */
  onSpawn?: (pid: number) => void;
}

export const DEFAULT_KILL_AFTER_MS = 3000;

/** Thrown by the helpers when the abort signal stopped their tool. `name` is 'AbortError'. */
export class ToolAbortedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AbortError';
  }
}

/** Process groups of our children that may still be alive. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/**
 * SIGKILLs every process group started by runTool that may still be alive; returns how many
 * groups it signalled. Runs on process 'exit' (a grace period cannot be waited for then).
 */
export function killRunningChildren(): number {
  let n = 0;
  for (const pgid of [...liveGroups]) {
    if (signalGroup(pgid, 'SIGKILL')) n++;
    liveGroups.delete(pgid);
  }
  return n;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killRunningChildren);
}

/** Sends `sig` to the process group; false when the group no longer exists. */
function signalGroup(pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false; // ESRCH: gone (EPERM cannot happen for our own children)
  }
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const no = signal ? constants.signals[signal] : undefined;
  return no !== undefined ? 128 + no : 1;
}

/**
 * Runs `tool args…` without a shell, in its own process group. Never throws for a non-zero exit;
 * rejects only when the tool cannot be started (e.g. ENOENT). Resolves once the tool has exited
 * and its output streams are closed.
 */
export function runTool(tool: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const { signal, timeoutMs } = opts;
  const killAfterMs = opts.killAfterMs ?? DEFAULT_KILL_AFTER_MS;
  if (signal?.aborted) return Promise.resolve({ exitCode: -1, stdout: '', stderr: '', aborted: true });
  installExitHook();

  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(tool, args, {
      detached: true,
      env: opts.inheritEnv === false ? { ...opts.env } : opts.env ? mergedEnv(opts.env) : process.env,
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const pid = child.pid;
    let stdout = '';
    let stderr = '';
    let aborted = false;
    let timedOut = false;
    let termSent = false;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

    /** TERM to the group now, KILL to the group after the grace. */
    const stopGroup = (): void => {
      if (pid === undefined || termSent) return;
      termSent = true;
      signalGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        signalGroup(pid, 'SIGKILL');
        liveGroups.delete(pid);
      }, killAfterMs);
      killTimer.unref();
    };
    const onAbort = (): void => {
      aborted = true;
      stopGroup();
    };
    const cleanup = (): void => {
      signal?.removeEventListener('abort', onAbort);
      if (timeoutTimer) clearTimeout(timeoutTimer);
    };

    child.on('error', (err) => {
      cleanup();
      if (killTimer) clearTimeout(killTimer);
      if (pid !== undefined) liveGroups.delete(pid);
      reject(err);
    });
    if (pid === undefined) return; // spawn failed: 'error' follows

    liveGroups.add(pid);
    opts.onSpawn?.(pid);
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      stdout += d;
      opts.onOutput?.(d, 'stdout');
    });
    child.stderr!.on('data', (d: string) => {
      stderr += d;
      opts.onOutput?.(d, 'stderr');
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // EPIPE when the tool exits without reading its input
      child.stdin.end(opts.input);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timeoutTimer = setTimeout(() => {
        timedOut = true;
        stopGroup();
      }, timeoutMs);
    }

    child.on('exit', (code, sig) => {
      exited = { code, signal: sig };
      cleanup();
      // The leader is gone; anything left in its group (a background process) goes too.
      if (signalGroup(pid, 0)) stopGroup();
    });
    child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
      cleanup();
      if (!signalGroup(pid, 0)) {
        if (killTimer) clearTimeout(killTimer);
        liveGroups.delete(pid);
      }
      const e = exited ?? { code, signal: sig };
      const r: RunResult = { exitCode: exitCodeOf(e.code, e.signal), stdout, stderr };
      if (aborted) r.aborted = true;
      if (timedOut) r.timedOut = true;
      resolve(r);
    });
  });
}

/** The child's environment: process.env with `extra` on top. */
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
