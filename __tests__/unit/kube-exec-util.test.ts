// runTool with REAL processes: exit codes, output, stdin, environment, and stopping the whole
// process group on abort / timeout. No timing assertions: only event order and process liveness.
import { describe, it, expect } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killRunningChildren, runTool, type RunResult } from '../../src/kube/exec-util.js';

/**
 * A process is running unless kill(pid, 0) says ESRCH or it is a zombie (dead, waiting for its
 * parent to reap it: an orphan's parent is init, which in some containers never reaps).
 */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false; // gone between the two checks
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function untilGone(pids: number[]): Promise<void> {
  // bounded by the jest timeout; asserts on liveness, not on time
  while (pids.some(running)) await pause(20);
}

/**
 * Starts `script` under bash; it must print one pid per line for each background process it
 * starts, then `ready`. Resolves the pids (bash's own first) once `ready` arrives.
 */
function startScript(
  script: string,
  opts: { signal?: AbortSignal; timeoutMs?: number; killAfterMs?: number } = {},
): { pids: Promise<number[]>; result: Promise<RunResult> } {
  let out = '';
  let leader = 0;
  let ready: (p: number[]) => void = () => {};
  const pids = new Promise<number[]>((r) => (ready = r));
  const result = runTool('bash', ['-c', script], {
    ...opts,
    onSpawn: (pid) => (leader = pid),
    onOutput: (chunk, stream) => {
      if (stream !== 'stdout') return;
      out += chunk;
      if (/^ready$/m.test(out))
        ready([
          leader,
          ...out
            .split('\n')
            .filter((l) => /^\d+$/.test(l))
            .map(Number),
        ]);
    },
  });
  return { pids, result };
}

// The children sleep 300 s: if runTool failed to stop them, a test would hit its bound (not
// pass late after a natural end).
const BOUND = 30_000;

describe('runTool (real processes)', () => {
  it('captures the exit code, stdout and stderr without a shell', async () => {
    const r = await runTool('bash', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    const literal = await runTool('printf', ['%s', '$(echo injected) `id` ; rm -rf /']);
    expect(literal).toEqual({ exitCode: 0, stdout: '$(echo injected) `id` ; rm -rf /', stderr: '' });
  });

  it('writes input to stdin and closes it; without input stdin is empty', async () => {
    const r = await runTool('bash', ['-c', 'cat; echo "[end]"'], { input: '{"kind":"Lease"}\nline 2\n' });
    expect(r.stdout).toBe('{"kind":"Lease"}\nline 2\n[end]\n');
    const none = await runTool('bash', ['-c', 'cat; echo "[eof]"']);
    expect(none.stdout).toBe('[eof]\n');
    // a tool that exits without reading a large input is no error (EPIPE is swallowed)
    const ignored = await runTool('true', [], { input: 'x'.repeat(1 << 20) });
    expect(ignored.exitCode).toBe(0);
  });

  it('lays env over process.env', async () => {
    process.env.HELM_CANARY_EXEC_TEST = 'from-parent';
    const r = await runTool('bash', ['-c', 'echo "$HELM_CANARY_EXEC_TEST|$EXTRA|${PATH:+path}"'], {
      env: { EXTRA: 'extra' },
    });
    delete process.env.HELM_CANARY_EXEC_TEST;
    expect(r.stdout).toBe('from-parent|extra|path\n');
  });

  it('reports a signal death as 128 + the signal number', async () => {
    expect((await runTool('bash', ['-c', 'kill -TERM $$'])).exitCode).toBe(143);
    expect((await runTool('bash', ['-c', 'kill -KILL $$'])).exitCode).toBe(137);
  });

  it('rejects when the tool cannot be started', async () => {
    await expect(runTool('/nonexistent/helm-canary-tool', [])).rejects.toThrow(/ENOENT/);
  });

  it('starts the tool as the leader of its own process group', async () => {
    let pid = 0;
    const r = await runTool('bash', ['-c', 'cut -d" " -f5 /proc/$$/stat'], { onSpawn: (p) => (pid = p) });
    expect(pid).toBeGreaterThan(0);
    expect(Number(r.stdout.trim())).toBe(pid);
    expect(Number(r.stdout.trim())).not.toBe(process.pid);
  });

  it(
    'abort: the child and its grandchildren are gone when it resolves',
    async () => {
      const ac = new AbortController();
      const { pids, result } = startScript('sleep 300 & echo $!; sleep 300 & echo $!; echo ready; wait', {
        signal: ac.signal,
      });
      const all = await pids;
      expect(all).toHaveLength(3);
      expect(all.every(running)).toBe(true);
      ac.abort();
      const r = await result;
      expect(r.aborted).toBe(true);
      expect(r.timedOut).toBeUndefined();
      expect(r.exitCode).toBe(143);
      // The grandchildren held the output pipes: resolution means they are exiting too. A process
      // closes its pipes early in its exit, so allow the kernel a moment to finish it (a loaded
      // machine showed one still "exiting" at resolution).
      for (let i = 0; i < 100 && all.some(running); i++) await new Promise((ok) => setTimeout(ok, 20));
      expect(all.filter(running)).toEqual([]);
    },
    BOUND,
  );

  it(
    'abort: a group that ignores SIGTERM gets SIGKILL after the grace',
    async () => {
      const ac = new AbortController();
      const { pids, result } = startScript('trap "" TERM; sleep 300 & echo $!; echo ready; wait', {
        signal: ac.signal,
        killAfterMs: 200,
      });
      const all = await pids;
      expect(all.every(running)).toBe(true);
      ac.abort();
      const r = await result;
      expect(r.aborted).toBe(true);
      expect(r.exitCode).toBe(137);
      expect(all.filter(running)).toEqual([]);
    },
    BOUND,
  );

  it(
    'timeout: stops the whole group and says so',
    async () => {
      const { pids, result } = startScript('sleep 300 & echo $!; echo ready; sleep 300; echo never', {
        timeoutMs: 300,
      });
      const all = await pids;
      const r = await result;
      expect(r.timedOut).toBe(true);
      expect(r.aborted).toBeUndefined();
      expect(r.exitCode).toBe(143);
      expect(r.stdout).not.toContain('never');
      expect(all.filter(running)).toEqual([]);
    },
    BOUND,
  );

  it('a finished run is neither aborted nor timed out, and a later abort changes nothing', async () => {
    const ac = new AbortController();
    const r = await runTool('bash', ['-c', 'echo done'], { signal: ac.signal, timeoutMs: 60_000 });
    ac.abort();
    expect(r).toEqual({ exitCode: 0, stdout: 'done\n', stderr: '' });
  });

  it('an already aborted signal starts nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    const marker = path.join(os.tmpdir(), `helm-canary-exec-${process.pid}`);
    fs.rmSync(marker, { force: true });
    let spawned = false;
    const r = await runTool('touch', [marker], { signal: ac.signal, onSpawn: () => (spawned = true) });
    expect(r).toEqual({ exitCode: -1, stdout: '', stderr: '', aborted: true });
    expect(spawned).toBe(false);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it(
    'stops what the tool left running in its group once the tool has exited',
    async () => {
      // the background sleep does not hold the output pipes, so it would outlive the run
      const r = await runTool('bash', ['-c', 'sleep 300 >/dev/null 2>&1 & echo $!']);
      expect(r.exitCode).toBe(0);
      const leftover = Number(r.stdout.trim());
      expect(leftover).toBeGreaterThan(0);
      await untilGone([leftover]);
      expect(running(leftover)).toBe(false);
    },
    BOUND,
  );

  it(
    'on process exit, every running group is killed (the exit hook)',
    async () => {
      const { pids, result } = startScript('sleep 300 & echo $!; echo ready; wait');
      const all = await pids;
      expect(process.listeners('exit')).toContain(killRunningChildren);
      expect(killRunningChildren()).toBeGreaterThanOrEqual(1);
      const r = await result;
      expect(r.exitCode).toBe(137);
      expect(all.filter(running)).toEqual([]);
      expect(killRunningChildren()).toBe(0); // nothing left to kill
    },
    BOUND,
  );
});
