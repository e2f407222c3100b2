import { describe, it, expect, jest } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandEnv, runVerifyCommand, tail } from '../../src/verify/verify-command.js';
import { SecretRegistry } from '../../src/lib/secrets.js';

/**
 * Is no process running `argv` any more? Looks (in /proc) for up to 10 s, far below the ~30 s such
 * a sleep would live: a process that got the TERM is gone within moments. Zombies (ended, not yet
 * reaped) have an empty cmdline and so do not count.
 */
async function noProcess(argv: string[]): Promise<boolean> {
  const wanted = `${argv.join('\0')}\0`;
  const running = () =>
    fs.readdirSync('/proc').some((d) => {
      if (!/^\d+$/.test(d)) return false;
      try {
        return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8') === wanted;
      } catch {
        return false; // ended meanwhile
      }
    });
  for (let i = 0; i < 200; i++) {
    if (!running()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

const facts = { CANARY_WEIGHT: '25', CANARY_RELEASE: 'web-v2', STABLE_RELEASE: 'web-v1', NAMESPACE: 'shop' };

describe('runVerifyCommand (real bash)', () => {
  it('passes the facts as environment variables', async () => {
    const r = await runVerifyCommand(
      'printf "%s|%s|%s|%s\\n" "$CANARY_WEIGHT" "$CANARY_RELEASE" "$STABLE_RELEASE" "$NAMESPACE"',
      facts,
    );
    expect(r).toMatchObject({ exitCode: 0, outputTail: '25|web-v2|web-v1|shop', timedOut: false });
  });

  it('keeps the rest of the environment', async () => {
    process.env.HELM_CANARY_TEST_VAR = 'kept';
    const r = await runVerifyCommand('echo "$HELM_CANARY_TEST_VAR"', facts);
    delete process.env.HELM_CANARY_TEST_VAR;
    expect(r.outputTail).toBe('kept');
  });

  it('gets no action input and no runner credential; KUBECONFIG is the run’s kubeconfig', async () => {
    const withheld = {
      'INPUT_GITHUB-TOKEN': 'ghs_input_token_000000',
      INPUT_KUBECONFIG: 'apiVersion: v1',
      INPUT_SET: 'db.password=hunter2',
      ACTIONS_RUNTIME_TOKEN: 'rt-token-0000',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc-token-0000',
      ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token.example/oidc',
      ACTIONS_RUNTIME_URL: 'https://runtime.example/',
      ACTIONS_CACHE_URL: 'https://cache.example/',
      GITHUB_TOKEN: 'ghs_env_token_000000',
    };
    Object.assign(process.env, withheld, { KUBECONFIG: '/inherited/kubeconfig', HELM_CANARY_KEPT: 'yes' });
    try {
      const r = await runVerifyCommand(
        'env | grep -c -E "^(INPUT_|ACTIONS_RUNTIME|ACTIONS_ID_TOKEN|ACTIONS_CACHE_URL|GITHUB_TOKEN=)" ; echo "$KUBECONFIG|$HELM_CANARY_KEPT|$CANARY_RELEASE"',
        facts,
        undefined,
        undefined,
        { kubeconfigPath: '/tmp/run/kubeconfig' },
      );
      expect(r.outputTail).toBe('0\n/tmp/run/kubeconfig|yes|web-v2');
      const inherited = await runVerifyCommand('echo "$KUBECONFIG"', facts);
      expect(inherited.outputTail).toBe('/inherited/kubeconfig');
    } finally {
      for (const k of [...Object.keys(withheld), 'KUBECONFIG', 'HELM_CANARY_KEPT']) delete process.env[k];
    }
    // the pure part: every INPUT_* whatever its case, the listed credentials, facts on top
    const env = commandEnv({ input_x: 'a', INPUT_Y: 'b', GITHUB_TOKEN: 't', PATH: '/bin' }, facts);
    expect(env).toEqual({ PATH: '/bin', ...facts });
  });

  it('its output reaches the log and the tail only redacted, also when a secret spans two chunks', async () => {
    const secrets = new SecretRegistry();
    secrets.add('sk-live-1234567890abcdef', 'set');
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    let r;
    try {
      r = await runVerifyCommand(
        'printf "key=sk-live-12345"; sleep 0.2; printf "67890abcdef ok\\n"; echo "token sk-live-1234567890abcdef" >&2',
        facts,
        undefined,
        undefined,
        { redact: (t) => secrets.redact(t) },
      );
    } finally {
      spy.mockRestore();
    }
    // (the [command] line shows the command text itself, redacted too: the whole secret is in it)
    expect(written[0]).toMatch(/^\[command\]bash -c .*token \*\*\*/);
    const shown = written.slice(1).join('');
    expect(shown).toContain('key=*** ok');
    expect(shown).toContain('token ***');
    expect(shown).not.toContain('sk-live-12345');
    expect(r.outputTail).toBe('key=*** ok\n\ntoken ***');
  });

  it('never splices the facts into the command text', async () => {
    const marker = path.join(os.tmpdir(), `helm-canary-injection-${process.pid}`);
    fs.rmSync(marker, { force: true });
    const evil = { ...facts, CANARY_RELEASE: `$(touch ${marker})`, NAMESPACE: `"; touch ${marker}; "` };
    const r = await runVerifyCommand('echo "$CANARY_RELEASE" && echo "$NAMESPACE"', evil);
    expect(r.exitCode).toBe(0);
    expect(r.outputTail).toBe(`$(touch ${marker})\n"; touch ${marker}; "`);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('reports a non-zero exit code and the output tail (stdout and stderr)', async () => {
    const r = await runVerifyCommand(
      'for i in $(seq 1 30); do echo "line $i"; done; echo "oops" >&2; exit 7',
      facts,
    );
    expect(r.exitCode).toBe(7);
    expect(r.timedOut).toBe(false);
    const lines = r.outputTail.split('\n');
    expect(lines.length).toBeLessThanOrEqual(20);
    expect(lines.at(-1)).toBe('oops');
    expect(lines).toContain('line 30');
    expect(lines).not.toContain('line 1');
  });

  it('stops a command that runs past the timeout, including its children', async () => {
    // A sleep of a length no other process uses, so the child can be found by its argv.
    const secs = `29.${process.pid}`;
    const r = await runVerifyCommand(`sleep ${secs}; echo never`, facts, 500);
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).not.toBe(0);
    // Ended by the TERM sent at the timeout (143), not by the KILL 5 s later (137).
    expect(r.exitCode).toBe(143);
    expect(r.outputTail).not.toContain('never');
    // The child got the TERM too: it is gone, not left running for its 29 s.
    expect(await noProcess(['sleep', secs])).toBe(true);
  });

  it('passes the exit code through the timeout wrapper', async () => {
    const r = await runVerifyCommand('echo "$CANARY_WEIGHT"; exit 4', facts, 10000);
    expect(r).toMatchObject({ exitCode: 4, outputTail: '25', timedOut: false });
  });
});

describe('runVerifyCommand cancellation (real bash)', () => {
  /** Running = kill(pid, 0) works and it is no zombie (an orphan's init may never reap it). */
  const running = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  };

  it('the abort signal stops the command and its children (its process group)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'helm-canary-verify-'));
    const pidFile = path.join(dir, 'pids');
    const ac = new AbortController();
    // the command writes its pids, then waits on a child that would sleep for 300 s
    const cmd = `sleep 300 & echo "$$ $!" > ${pidFile}.tmp && mv ${pidFile}.tmp ${pidFile}; wait; echo never`;
    const pending = runVerifyCommand(cmd, facts, undefined, ac.signal);
    while (!fs.existsSync(pidFile)) await new Promise((r) => setTimeout(r, 10));
    const pids = fs.readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
    expect(pids.every(running)).toBe(true);
    ac.abort();
    const r = await pending;
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.cancelled).toBe(true);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(143);
    expect(r.outputTail).not.toContain('never');
    expect(pids.filter(running)).toEqual([]);
  }, 30_000);

  it('a command that finishes is not cancelled', async () => {
    const r = await runVerifyCommand('exit 0', facts, 10_000, new AbortController().signal);
    expect(r.cancelled).toBeUndefined();
    expect(r.exitCode).toBe(0);
  });
});

describe('tail', () => {
  it('keeps the last 20 lines, at most ~2000 characters', () => {
    expect(tail('a\nb\n\n')).toBe('a\nb');
    const long = tail('x'.repeat(5000));
    expect(long.length).toBeLessThanOrEqual(2001);
    expect(long.startsWith('…')).toBe(true);
  });
});
