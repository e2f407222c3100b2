// Shared helpers for tests that drive the REAL helm and kubectl binaries.
// HELM_CANARY_TOOLS=helm4|helm3 (default helm4) chooses the pair in .tools/<pair>/.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ToolsPair = 'helm4' | 'helm3';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const chartsDir = join(repoRoot, '__tests__', 'fixtures', 'charts');

export function toolsPair(): ToolsPair {
  const v = process.env.HELM_CANARY_TOOLS ?? 'helm4';
  if (v !== 'helm4' && v !== 'helm3')
    throw new Error(`HELM_CANARY_TOOLS must be helm4 or helm3, not ${JSON.stringify(v)}`);
  return v;
}

/** Absolute folder holding the chosen pair's `helm` and `kubectl`. */
export function toolsDir(): string {
  const dir = join(repoRoot, '.tools', toolsPair());
  if (!existsSync(join(dir, 'helm')) || !existsSync(join(dir, 'kubectl')))
    throw new Error(`${dir} lacks helm/kubectl: run npm ci (scripts/install-binaries.mjs)`);
  return dir;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number; // default 60s; the process is killed and code is -1 after it
  cwd?: string;
}

/**
 * Runs `bin` ("helm", "kubectl" or a path) with args. Bare helm/kubectl resolve to toolsDir();
 * toolsDir() is also put first on PATH. Never throws for a non-zero exit.
 */
export function run(bin: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const dir = toolsDir();
  const exe = bin === 'helm' || bin === 'kubectl' ? join(dir, bin) : bin;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...(opts.env ?? {}) }))
    if (v !== undefined) env[k] = v;
  env.PATH = `${dir}:${env.PATH ?? ''}`;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(exe, args, { env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
