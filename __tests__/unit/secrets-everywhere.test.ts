// One secret of each kind, fed through input parsing, then through every output path: the runner's
// masking (core.setSecret), input error messages, the job summary, pull-request comment, report
// JSON and one-line outcome, and the helm/kubectl command lines and errors built from their stderr.
/* eslint-disable @typescript-eslint/no-explicit-any -- mocks of loosely typed modules */
import { jest, describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// --- mocks (ESM: before importing the modules under test) ---------------------------------------
const runnerInputs: Record<string, string> = {};
const logged: string[] = [];
const summaries: string[] = [];
const comments: string[] = [];
const core = {
  getInput: jest.fn((name: string) => (runnerInputs[name] ?? '').trim()),
  getMultilineInput: jest.fn((name: string) =>
    (runnerInputs[name] ?? '')
      .split('\n')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
  ),
  setSecret: jest.fn(),
  info: (m: string) => logged.push(m),
  debug: (m: string) => logged.push(m),
  warning: (m: string) => logged.push(m),
  error: (m: string) => logged.push(m),
  summary: {
    addRaw(text: string) {
      summaries.push(text);
      return this;
    },
    write: async () => undefined,
  },
};
jest.unstable_mockModule('@actions/core', () => core);

type Reply = { exitCode?: number; stdout?: string; stderr?: string };
let reply: (tool: string, args: string[]) => Reply = () => ({});
const execUtil = await import('../../src/kube/exec-util.js');
jest.unstable_mockModule('../../src/kube/exec-util.js', () => ({
  ...execUtil,
  runTool: jest.fn(async (tool: string, args: string[] = []) => {
    const r = reply(tool, args);
    return { exitCode: r.exitCode ?? 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }),
}));
jest.unstable_mockModule('@actions/io', () => ({ which: jest.fn(async (t: string) => `/opt/bin/${t}`) }));
jest.unstable_mockModule('../../src/report/comment-helper.js', () => ({
  createCommentPublisher: async () => ({ publish: async (body: string) => void comments.push(body) }),
}));

const { getInputs, InputError } = await import('../../src/input-helper.js');
const { createHelm } = await import('../../src/kube/helm-helper.js');
const { createKubectl } = await import('../../src/kube/kubectl-helper.js');
const { Reporter } = await import('../../src/report/reporter.js');
import type { Settings } from '../../src/lib/types.js';
import type { RunReport } from '../../src/report/model.js';

// --- one secret of each kind (underscores and '|' so the Markdown-escaped form differs) ---------
const S = {
  set: 'Set_Value|7f3a9c2e1b',
  setFile: '/run/secrets/Set_File-4d8e2a.pem',
  kubeToken: 'Kube_Token-9a8b7c6d5e',
  execEnv: 'Exec_Env-1q2w3e4r5t',
  githubToken: 'ghs_Github_Token-0p9o8i7u',
  urlPassword: 'Url_Pass-6y5t4r3e',
  header: 'Header_Value-2k3j4h5g',
};
const ALL = Object.entries(S);

const KUBECONFIG = [
  'apiVersion: v1',
  'kind: Config',
  'clusters: [{ name: c1, cluster: { server: "https://127.0.0.1:6443" } }]',
  'users:',
  `- { name: u1, user: { token: "${S.kubeToken}" } }`,
  '- name: u2',
  '  user:',
  '    exec:',
  '      command: aws',
  '      args: [eks, get-token, --cluster-name, prod]',
  `      env: [{ name: AWS_SECRET_ACCESS_KEY, value: "${S.execEnv}" }]`,
  'contexts: [{ name: ctx-a, context: { cluster: c1, user: u1 } }]',
].join('\n');

const validInputs = (): Record<string, string> => ({
  chart: './chart',
  release: 'my-app',
  version: 'v1',
  'virtual-service': 'my-app',
  set: `db.password=${S.set}\nimage.tag=v1`,
  'helm-args': `--create-namespace\n--set-file cert=${S.setFile}`,
  kubeconfig: Buffer.from(KUBECONFIG).toString('base64'),
  context: 'ctx-a',
  'github-token': S.githubToken,
  'verify-url': `https://probe:${S.urlPassword}@my-app.example.com/healthz`,
  'verify-headers': `X-Api-Key: ${S.header}\nAccept: application/json`,
});

/** Fails with the kinds of secret that occur in `text`. */
function expectNoSecret(text: string, where: string): void {
  expect([where, ALL.filter(([, v]) => text.includes(v)).map(([k]) => k)]).toEqual([where, []]);
}

let dir: string;
const saved = { ...process.env };
const savedCwd = process.cwd();
let settings: Settings;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hc-secrets-'));
  fs.mkdirSync(path.join(dir, 'chart'));
  fs.writeFileSync(path.join(dir, 'chart', 'Chart.yaml'), 'name: app\nversion: 1.0.0\n');
  process.chdir(dir);
  Object.assign(process.env, { RUNNER_TEMP: dir, GITHUB_STEP_SUMMARY: path.join(dir, 'summary.md') });
  Object.assign(runnerInputs, validInputs());
  settings = await getInputs();
});
afterAll(() => {
  process.env = saved;
  process.chdir(savedCwd);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('every kind of secret stays out of every output', () => {
  it('is masked on the runner (core.setSecret) while the inputs are parsed', () => {
    const masked = core.setSecret.mock.calls.map((c) => c[0]);
    for (const [kind, value] of ALL) expect([kind, masked.includes(value)]).toEqual([kind, true]);
    expect(settings.secrets.values()).toEqual(expect.arrayContaining(Object.values(S)));
  });

  it('is never shown in input error messages, even when another input quotes it', async () => {
    // Each secret also lands in an input whose error quotes its value.
    for (const k of Object.keys(runnerInputs)) delete runnerInputs[k];
    Object.assign(runnerInputs, validInputs(), {
      route: `r\u0001${S.set}`,
      chart: S.setFile,
      'virtual-service': S.kubeToken,
      namespace: S.execEnv,
      'chart-version': `1\u0007${S.githubToken}`,
      'verify-url': `ftp://probe:${S.urlPassword}@x.example/`,
      service: S.header,
    });
    const err = (await getInputs().catch((e: unknown) => e)) as InstanceType<typeof InputError>;
    expect(err).toBeInstanceOf(InputError);
    const named = err.problems.map((p) => /^Input '([^']+)'/.exec(p)?.[1]);
    expect(named).toEqual(
      expect.arrayContaining([
        'route',
        'chart',
        'virtual-service',
        'namespace',
        'chart-version',
        'verify-url',
        'service',
      ]),
    );
    expect(err.message.split('***').length - 1).toBeGreaterThanOrEqual(ALL.length);
    expectNoSecret(err.message, 'input errors');
  });

  it('is never shown in the job summary, the comment, the report JSON or the outcome line', async () => {
    const report = reportMentioning(Object.values(S));
    expect(JSON.stringify(report)).toContain(S.urlPassword); // there is something to redact
    const reporter = await Reporter.create(
      settings,
      { sha: 'abc', eventName: 'push', payload: {}, repo: { owner: 'o', repo: 'r' } } as any,
      {
        info: () => undefined,
        warning: () => undefined,
      },
    );
    await reporter.update(report, true);
    const { jsonPath, markdown } = await reporter.finish(report);
    expect(comments).toHaveLength(1);
    expect(summaries).toEqual([markdown]);
    expect(markdown).toContain('***');
    expectNoSecret(comments[0], 'comment');
    expectNoSecret(markdown, 'job summary / summary output');
    expectNoSecret(fs.readFileSync(jsonPath, 'utf8'), 'report JSON');
    expectNoSecret(reporter.oneLine(report), 'outcome line');
  });

  it('is never shown in helm and kubectl command lines or in errors built from their stderr', async () => {
    const echo = `Error: rejected ${Object.values(S).join(' and ')}\n`;
    reply = (tool, args) => {
      if (args[0] === 'version')
        return tool.endsWith('helm')
          ? { stdout: 'v4.1.4+g05fa379\n' }
          : { stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.35.2' } }) };
      return { exitCode: 1, stderr: echo };
    };
    const kube = { namespace: settings.namespace, context: settings.context, secrets: settings.secrets };
    const helm = await createHelm(kube);
    const kubectl = await createKubectl(kube);
    logged.length = 0;
    const helmError = (await helm
      .install({
        release: settings.canaryRelease,
        chart: settings.chart!,
        namespace: settings.namespace,
        valuesFiles: [],
        set: settings.set,
        extraArgs: settings.helmArgs,
        timeoutMs: settings.helmTimeoutMs,
        // Outside --set flags the argv display rule hides nothing: the registry must.
        labels: { owner: S.githubToken, probe: S.header },
      })
      .catch((e: unknown) => e)) as Error;
    const kubectlError = (await kubectl.get('virtualservice', S.kubeToken).catch((e: unknown) => e)) as Error;
    const commandLines = logged.filter((l) => l.startsWith('[command]'));
    expect(commandLines).toHaveLength(2);
    expect(commandLines[0]).toContain('--labels owner=***,probe=***');
    expect(helmError.message).toContain('helm install my-app-v1 failed (exit 1): Error: rejected ***');
    expect(kubectlError.message).toContain('kubectl get virtualservice *** -n default failed');
    expectNoSecret(commandLines.join('\n'), 'command lines');
    expectNoSecret(helmError.message, 'helm error');
    expectNoSecret(kubectlError.message, 'kubectl error');
    expectNoSecret(logged.join('\n'), 'log');
  });
});

function reportMentioning(secrets: string[]): RunReport {
  const all = secrets.join(', ');
  return {
    command: 'rollout',
    namespace: 'default',
    release: 'my-app',
    routing: { kind: 'VirtualService', name: 'my-app' },
    stable: { release: 'my-app-v0' },
    canary: { release: 'my-app-v1', chart: 'app', chartVersion: secrets[0] },
    outcome: 'rolled-back',
    reason: `helm said: ${all}`,
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:00:20.000Z',
    warnings: [`probe to https://probe:${secrets[5]}@my-app.example.com failed`, all],
    runUrl: `https://example.com/?t=${encodeURIComponent(secrets[6])}`,
    dryRun: false,
    steps: [
      {
        index: 0,
        weight: 10,
        bakeMs: 60000,
        startedAt: '2026-01-01T00:00:05.000Z',
        endedAt: '2026-01-01T00:00:15.000Z',
        total: { requests: 50, good: 45, bad: 5 },
        verdict: 'failed',
        reason: `header ${secrets[6]} rejected; ${all}`,
      },
    ],
  };
}
