import { describe, it, expect, beforeAll, afterAll, beforeEach, jest } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { InputEnv } from '../../src/input-helper.js';

// getInputs() reads the runner through @actions/core: mock it (ESM) before importing the module.
const runnerInputs: Record<string, string> = {};
const core = {
  getInput: jest.fn((name: string) => (runnerInputs[name] ?? '').trim()),
  getMultilineInput: jest.fn((name: string) =>
    (runnerInputs[name] ?? '')
      .split('\n')
      .filter((x) => x !== '')
      .map((x) => x.trim()),
  ),
  getBooleanInput: jest.fn(),
  setSecret: jest.fn(),
  warning: jest.fn(),
  info: jest.fn(),
};
jest.unstable_mockModule('@actions/core', () => core);
const { INPUT_DEFAULTS, INPUT_NAMES, InputError, getInputs, parseInputs } =
  await import('../../src/input-helper.js');
const { INPUTS } = await import('../../src/inputs/table.js');
const { SecretRegistry } = await import('../../src/lib/secrets.js');
type InputError = InstanceType<typeof InputError>;

let dir: string;
let env: InputEnv;
const SECRET = 'hunter2-SECRET';
const KUBECONFIG = [
  'apiVersion: v1',
  'kind: Config',
  'clusters:',
  '- name: c1',
  '  cluster: { server: "https://127.0.0.1:6443" }',
  'users:',
  '- name: u1',
  `  user: { token: "kube-${SECRET}" }`,
  'contexts:',
  '- name: ctx-a',
  '  context: { cluster: c1, user: u1 }',
  '- name: ctx-b',
  '  context: { cluster: c1, user: u1 }',
  'current-context: ctx-a',
].join('\n');

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hc-inputs-'));
  fs.mkdirSync(path.join(dir, 'chart'));
  fs.writeFileSync(path.join(dir, 'chart', 'Chart.yaml'), 'name: app\nversion: 1.0.0\n');
  fs.mkdirSync(path.join(dir, 'charts', 'app'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'charts', 'app', 'Chart.yaml'), 'name: app\n');
  fs.mkdirSync(path.join(dir, 'nochart'));
  fs.writeFileSync(path.join(dir, 'app-1.0.0.tgz'), 'x');
  fs.writeFileSync(path.join(dir, 'values.yaml'), 'a: 1\n');
  fs.writeFileSync(path.join(dir, 'prod.yaml'), 'b: 2\n');
  fs.writeFileSync(path.join(dir, 'kubeconfig.yaml'), KUBECONFIG);
  env = { sha: '0123456789abcdef', refType: 'branch', refName: 'main', eventName: 'push', cwd: dir };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = (): Record<string, string> => ({
  chart: './chart',
  release: 'my-app',
  'virtual-service': 'my-app',
  'verify-url': 'https://my-app.example.com/healthz',
});

function errorOf(raw: Record<string, string>, e: InputEnv = env): InputError {
  try {
    parseInputs(raw, e);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

describe('parseInputs: defaults and valid values', () => {
  it('builds Settings with the documented defaults', () => {
    const s = parseInputs(base(), env);
    expect(s).toMatchObject({
      command: 'rollout',
      chart: './chart',
      release: 'my-app',
      version: '0123456',
      canaryRelease: 'my-app-0123456',
      namespace: 'default',
      valuesFiles: [],
      set: [],
      helmArgs: [],
      virtualService: 'my-app',
      intervalMs: 60_000,
      onFailure: 'rollback',
      promotion: 'auto',
      cleanup: true,
      helmTimeoutMs: 300_000,
      timeoutMs: 1_800_000,
      dryRun: false,
      comment: true,
      warnings: [expect.stringContaining("'github-token' is empty")],
    });
    expect(s.steps.map((x) => x.weight)).toEqual([10, 25, 50, 100]);
    expect(s.steps.every((x) => x.bakeMs === 60_000)).toBe(true);
    expect(s.verify).toEqual({
      url: 'https://my-app.example.com/healthz',
      host: undefined,
      headers: {},
      statuses: [[200, 399]],
      body: undefined,
      rps: 5,
      timeoutMs: 5000,
      successRate: 0.99,
      maxLatencyMs: undefined,
      command: undefined,
      canaryMatch: undefined,
    });
    expect(s.route).toBeUndefined();
    expect(s.kubeconfig).toBeUndefined();
    expect(s.prNumber).toBeUndefined();
  });

  it('treats blank inputs as defaults (as the runner passes them)', () => {
    const raw: Record<string, string> = {};
    for (const n of INPUT_NAMES) raw[n] = '';
    Object.assign(raw, base(), { steps: '  ', interval: '' });
    expect(parseInputs(raw, env).steps).toHaveLength(4);
  });

  it('parses every input when all are given', () => {
    const s = parseInputs(
      {
        ...base(),
        command: 'Rollout',
        chart: 'oci://registry.example.com/charts/app',
        'chart-version': '^1.4',
        version: 'v1.2.3',
        namespace: 'prod',
        'values-files': 'values.yaml\n\n prod.yaml \nhttps://example.com/v.yaml',
        set: 'image.tag=v1.2.3\ndb.password=p=w,d',
        'helm-args': '--create-namespace\n--labels team=a\n--set-string x=1\n-f values.yaml',
        route: 'primary',
        service: 'my-app-web',
        steps: '5@30s, 50, 100@0s',
        interval: '2m',
        'verify-host': 'my-app.example.com:8443',
        'verify-headers': 'Authorization: Bearer abc\nX-Test:  1 ',
        'verify-status': '200,204,3xx',
        'verify-body': '"status":\\s*"ok"',
        'verify-rps': '0.5',
        'verify-timeout': '1500ms',
        'success-rate': '99.5%',
        'max-latency': '300ms',
        'verify-command': 'curl -fsS "$CANARY_URL"',
        'canary-match': 'header:x-version=v1.2.3',
        'on-failure': 'PAUSE',
        promotion: 'auto',
        cleanup: 'False',
        'helm-timeout': '10m',
        timeout: '1h',
        kubeconfig: KUBECONFIG,
        context: 'ctx-b',
        'dry-run': 'TRUE',
        'github-token': 'ghs_abc',
        comment: 'false',
        'pr-number': '#42',
      },
      env,
    );
    expect(s).toMatchObject({
      command: 'rollout',
      chartVersion: '^1.4',
      version: 'v1.2.3',
      canaryRelease: 'my-app-v1-2-3',
      namespace: 'prod',
      valuesFiles: ['values.yaml', 'prod.yaml', 'https://example.com/v.yaml'],
      set: ['image.tag=v1.2.3', 'db.password=p=w,d'],
      helmArgs: ['--create-namespace', '--labels', 'team=a', '--set-string', 'x=1', '-f', 'values.yaml'],
      route: 'primary',
      service: 'my-app-web',
      steps: [
        { weight: 5, bakeMs: 30_000 },
        { weight: 50, bakeMs: 120_000 },
        { weight: 100, bakeMs: 0 },
      ],
      intervalMs: 120_000,
      onFailure: 'pause',
      cleanup: false,
      helmTimeoutMs: 600_000,
      timeoutMs: 3_600_000,
      kubeconfig: KUBECONFIG,
      context: 'ctx-b',
      dryRun: true,
      githubToken: 'ghs_abc',
      comment: false,
      prNumber: 42,
      warnings: [],
    });
    expect(s.verify).toMatchObject({
      host: 'my-app.example.com:8443',
      headers: { Authorization: 'Bearer abc', 'X-Test': '1' },
      statuses: [
        [200, 200],
        [204, 204],
        [300, 399],
      ],
      rps: 0.5,
      timeoutMs: 1500,
      successRate: 0.995,
      maxLatencyMs: 300,
      command: 'curl -fsS "$CANARY_URL"',
      canaryMatch: { kind: 'header', name: 'x-version', value: 'v1.2.3' },
    });
    expect(s.verify.body?.test('{"status": "ok"}')).toBe(true);
  });

  it('accepts the chart forms: directory, .tgz, repo/chart, https URL', () => {
    for (const chart of [
      'chart',
      './charts/app',
      'app-1.0.0.tgz',
      path.join(dir, 'chart'),
      'bitnami/nginx',
      'https://x.example/app-1.tgz',
    ]) {
      expect(parseInputs({ ...base(), chart }, env).chart).toBe(chart);
    }
  });

  it('accepts a base64 kubeconfig and stores the decoded YAML', () => {
    const s = parseInputs(
      { ...base(), kubeconfig: Buffer.from(KUBECONFIG).toString('base64'), context: 'ctx-a' },
      env,
    );
    expect(s.kubeconfig).toBe(KUBECONFIG);
  });

  it('accepts a body canary-match and a plain-number max-latency', () => {
    const s = parseInputs({ ...base(), 'canary-match': 'body:version.*v2', 'max-latency': '250' }, env);
    expect(s.verify.canaryMatch).toEqual({ kind: 'body', pattern: /version.*v2/ });
    expect(s.verify.maxLatencyMs).toBe(250);
    expect(parseInputs({ ...base(), 'max-latency': '1.5s' }, env).verify.maxLatencyMs).toBe(1500);
  });
});

describe('parseInputs: commands and manual promotion', () => {
  it('rollback and status need only release, namespace and the routing object; promote also verification', () => {
    for (const command of ['rollback', 'status']) {
      const s = parseInputs({ command, release: 'my-app', 'virtual-service': 'my-app' }, { cwd: dir });
      expect(s).toMatchObject({ command, release: 'my-app', virtualService: 'my-app', chart: undefined });
    }
    const op = { command: 'promote', release: 'my-app', 'virtual-service': 'my-app' };
    expect(parseInputs({ ...op, 'verify-command': 'true' }, { cwd: dir }).command).toBe('promote');
    expect(errorOf(op, { cwd: dir }).problems).toEqual([
      expect.stringMatching(/^Input 'verify-url': is empty/),
    ]);
  });

  it('promotion: manual and a lock-timeout parse', () => {
    const s = parseInputs({ ...base(), promotion: 'Manual', 'lock-timeout': '2m' }, env);
    expect(s.promotion).toBe('manual');
    expect(s.lockTimeoutMs).toBe(120_000);
    expect(parseInputs(base(), env).lockTimeoutMs).toBe(0);
  });
});

describe('parseInputs: version and release name', () => {
  it('uses the tag name on a tag push', () => {
    const s = parseInputs(base(), { ...env, refType: 'tag', refName: 'v2.0.0' });
    expect(s.version).toBe('v2.0.0');
    expect(s.canaryRelease).toBe('my-app-v2-0-0');
  });

  it('counts GITHUB_REF refs/tags/ as a tag', () => {
    const s = parseInputs(base(), { sha: 'ffffffffff', ref: 'refs/tags/release/1.2', cwd: dir });
    expect(s.version).toBe('release/1.2');
    expect(s.canaryRelease).toBe('my-app-release-1-2');
  });

  it('uses the short SHA otherwise, with a warning on pull_request', () => {
    const s = parseInputs(base(), { ...env, eventName: 'pull_request' });
    expect(s.version).toBe('0123456');
    expect(s.warnings?.join('\n')).toContain('pull_request');
  });

  it('an explicit version wins over the tag', () => {
    expect(parseInputs({ ...base(), version: 'v9' }, { ...env, refType: 'tag', refName: 'v1' }).version).toBe(
      'v9',
    );
  });

  it('errors when no version can be derived', () => {
    const e = errorOf(base(), { cwd: dir });
    expect(e.message).toContain("Input 'version': is empty and neither a tag");
    expect(e.message).toContain("set 'version'");
  });

  it('http-route instead of virtual-service: the HTTPRoute is the routing object', () => {
    const s = parseInputs({ ...base(), 'virtual-service': '', 'http-route': 'my-app', version: 'v2' }, env);
    expect(s.httpRoute).toBe('my-app');
    expect(s.virtualService).toBe('');
    const p = parseInputs({ ...base(), command: 'promote', 'virtual-service': '', 'http-route': 'web' }, env);
    expect(p.httpRoute).toBe('web');
  });

  it('truncates the slug to keep the name within 53 characters, with a warning', () => {
    const release = 'r'.repeat(45);
    const s = parseInputs({ ...base(), release, version: 'v1.2.3-rc.10' }, env);
    expect(s.canaryRelease).toBe(`${release}-v1-2-3`);
    expect(s.canaryRelease.length).toBeLessThanOrEqual(53);
    expect(s.warnings?.join('\n')).toContain('only part of version');
  });
});

// Each case: input name, raw overrides, fragments that must appear in that input's error line.
const BAD: Array<[string, Record<string, string>, string[]]> = [
  [
    'command',
    { command: 'deploy' },
    ['"deploy" is not a command', 'use "rollout", "promote", "rollback" or "status"'],
  ],
  ['release', { command: 'promote', release: '' }, ['is required for command "promote" but empty']],
  ['virtual-service', { command: 'status', 'virtual-service': '' }, ['is required for command "status"']],
  ['lock-timeout', { 'lock-timeout': '5' }, ['"5"', 'e.g. "500ms", "30s"']],
  ['chart', { chart: '' }, ['is required for command "rollout"', 'chart directory']],
  ['release', { release: '' }, ['is required for command "rollout"', 'lowercase letters']],
  ['virtual-service', { 'virtual-service': '' }, ['is required', 'VirtualService']],
  ['virtual-service', { 'virtual-service': '' }, ["set exactly one of 'virtual-service' / 'http-route'"]],
  [
    'http-route',
    { 'http-route': 'web' },
    ['"web" cannot be combined with \'virtual-service\'', "exactly one of 'virtual-service'", 'HTTPRoute'],
  ],
  [
    'http-route',
    { 'virtual-service': '', 'http-route': 'Web_1' },
    ['"Web_1" is not a valid Kubernetes resource name'],
  ],
  ['chart', { chart: './missing' }, ['"./missing" does not exist', 'packaged .tgz']],
  ['chart', { chart: 'nochart' }, ['"nochart" is a directory without Chart.yaml', 'chart directory']],
  [
    'chart',
    { chart: 'charts/ap' },
    ['"charts/ap" does not exist although directory "charts" does', 'oci://'],
  ],
  ['chart', { chart: 'values.yaml' }, ['"values.yaml" is a file but not a packaged chart', '.tgz']],
  ['chart', { chart: 'nginx' }, ['"nginx" is neither an existing chart', 'repo/chart']],
  ['chart', { chart: 'oci://' }, ['"oci://" is not a complete oci:// reference', 'oci://']],
  ['release', { release: 'My-App' }, ['"My-App" has uppercase letters', "lowercase letters, digits and '-'"]],
  ['release', { release: 'my_app' }, ['"my_app" is not a valid Helm release name', 'e.g. "my-app"']],
  ['release', { release: 'a'.repeat(52) }, ['is 52 characters, leaving no room', 'at most 51 characters']],
  ['version', { version: '...' }, ['"..." has no letters or digits', 'e.g. "v1.2.3"']],
  ['version', { version: 'v1 beta' }, ['"v1 beta" contains whitespace', 'e.g. "v1.2.3"']],
  [
    'namespace',
    { namespace: 'Prod_NS' },
    ['"Prod_NS" is not a valid namespace name', 'at most 63 characters'],
  ],
  ['namespace', { namespace: 'n'.repeat(64) }, ['is longer than 63 characters', 'e.g. "prod"']],
  [
    'virtual-service',
    { 'virtual-service': 'My VS' },
    ['"My VS" is not a valid Kubernetes resource name', 'VirtualService'],
  ],
  ['service', { service: '1-web' }, ['"1-web" is not a valid Service name', 'starting with a letter']],
  [
    'steps',
    { steps: '10,5,100' },
    ['"10,5,100" is not strictly ascending', 'each optionally with @duration', '"10@2m,50@5m,100"'],
  ],
  ['steps', { steps: '10,50' }, ['"10,50" ends at 50, not 100', 'ascending order']],
  ['steps', { steps: '0,100' }, ['has 0 which is outside 1-100', 'percentages 1-100']],
  ['steps', { steps: '10@soon,100' }, ['bake time "soon"', '@duration']],
  ['interval', { interval: '30' }, ['"30" has no unit', 'unit ms, s, m or h']],
  ['interval', { interval: 'often' }, ['"often" is not a duration', '"1m30s"']],
  ['verify-timeout', { 'verify-timeout': '0s' }, ['"0s" must be above zero', 'unit ms, s, m or h']],
  ['helm-timeout', { 'helm-timeout': '5 min' }, ['"5 min" is not a duration', 'unit ms, s, m or h']],
  ['timeout', { timeout: '-1m' }, ['"-1m" is negative', 'unit ms, s, m or h']],
  [
    'timeout',
    { timeout: '3m', steps: '50@2m,100@2m' },
    [
      '"3m" is not longer than the total bake time of the steps with the pre-traffic check and settle times (276s)',
      'unit ms',
    ],
  ],
  [
    'values-files',
    { 'values-files': 'values.yaml\nmissing.yaml' },
    ['"missing.yaml" does not exist', 'one values file path'],
  ],
  ['values-files', { 'values-files': 'chart' }, ['"chart" is not a file', 'one values file path']],
  [
    'helm-args',
    { 'helm-args': '--namespace=other' },
    [
      '"--namespace=other" uses --namespace, which the action controls',
      "use the 'namespace' input",
      'one helm install flag per line',
    ],
  ],
  ['helm-args', { 'helm-args': '-n other' }, ['"-n other" uses -n', "'namespace' input"]],
  ['helm-args', { 'helm-args': '--wait' }, ['uses --wait', 'one helm install flag per line']],
  ['helm-args', { 'helm-args': '--atomic' }, ['uses --atomic', "'on-failure'"]],
  ['helm-args', { 'helm-args': '--rollback-on-failure' }, ['uses --rollback-on-failure', "'on-failure'"]],
  ['helm-args', { 'helm-args': '--dry-run=server' }, ['uses --dry-run', "'dry-run' input"]],
  ['helm-args', { 'helm-args': '--kubeconfig /tmp/k' }, ['uses --kubeconfig', "'kubeconfig' input"]],
  ['helm-args', { 'helm-args': '--kube-context=x' }, ['uses --kube-context', "'context' input"]],
  ['helm-args', { 'helm-args': '--kube-apiserver https://x' }, ['uses --kube-apiserver', 'same cluster']],
  ['helm-args', { 'helm-args': '--timeout 10m' }, ['uses --timeout', "'helm-timeout'"]],
  [
    'helm-args',
    { 'helm-args': 'create-namespace' },
    ["line 1 is not a flag starting with '-'", 'one helm install flag per line'],
  ],
  ['verify-url', { 'verify-url': 'not a url' }, ['"not a url" is not a URL', 'http:// or https://']],
  [
    'verify-url',
    { 'verify-url': 'ftp://x.example/' },
    ['has scheme "ftp", not http or https', 'https://my-app'],
  ],
  [
    'verify-host',
    { 'verify-host': 'bad host:99999' },
    ['"bad host:99999" is not a host name with optional port', 'e.g. "my-app.example.com"'],
  ],
  [
    'verify-headers',
    { 'verify-headers': 'X-Ok: 1\nBad Name: 2' },
    ['"Bad Name" (line 2) is not a valid header name', '"Name: value"'],
  ],
  ['verify-headers', { 'verify-headers': 'just-a-line' }, ["line 1 has no ':'", '"Name: value"']],
  [
    'verify-headers',
    { 'verify-headers': 'Host: x' },
    ['"Host" (line 1) is set by the \'verify-host\' input', "use 'verify-host'"],
  ],
  [
    'verify-headers',
    { 'verify-headers': 'X-A: 1\nx-a: 2' },
    ['"x-a" (line 2) is given more than once', '"Name: value"'],
  ],
  [
    'verify-status',
    { 'verify-status': '399-200' },
    ['"399-200" has range "399-200" whose low end is above its high end', 'ranges low-high'],
  ],
  ['verify-status', { 'verify-status': '200,700' }, ['has 700 which is outside 100-599', 'codes 100-599']],
  [
    'verify-body',
    { 'verify-body': '(unclosed' },
    [
      '"(unclosed" is not a valid regular expression (Invalid regular expression',
      'JavaScript regular expression',
    ],
  ],
  ['verify-rps', { 'verify-rps': '0' }, ['"0" is not above 0 and at most 100', 'requests per second']],
  ['verify-rps', { 'verify-rps': '500' }, ['"500" is not above 0 and at most 100', 'requests per second']],
  ['verify-rps', { 'verify-rps': 'fast' }, ['"fast" is not a number', 'requests per second']],
  ['success-rate', { 'success-rate': '120' }, ['"120" is not above 0 and at most 100', 'percentage']],
  ['success-rate', { 'success-rate': '0' }, ['"0" is not above 0', 'e.g. "99"']],
  ['max-latency', { 'max-latency': 'quick' }, ['"quick" is not a number of milliseconds', 'p95 latency']],
  ['max-latency', { 'max-latency': '0' }, ['"0" must be above zero', 'p95 latency']],
  [
    'canary-match',
    { 'canary-match': 'cookie:x=1' },
    ['"cookie:x=1" is neither header:NAME=VALUE nor body:REGEX', '"header:x-version=v2"'],
  ],
  [
    'canary-match',
    { 'canary-match': 'header:x-version' },
    ['is neither header:NAME=VALUE nor body:REGEX', '"body:REGEX"'],
  ],
  [
    'canary-match',
    { 'canary-match': 'header:x-version=' },
    ['has an empty header value', 'header:NAME=VALUE'],
  ],
  [
    'canary-match',
    { 'canary-match': 'header:bad name=1' },
    ['has "bad name" which is not a valid header name', 'header:NAME=VALUE'],
  ],
  [
    'canary-match',
    { 'canary-match': 'body:[' },
    ['"body:[" is not a valid regular expression', 'body:REGEX'],
  ],
  [
    'on-failure',
    { 'on-failure': 'ignore' },
    ['"ignore" is not a failure action', 'use "rollback" or "pause"'],
  ],
  ['promotion', { promotion: 'yolo' }, ['"yolo" is not a promotion mode', 'use "auto" or "manual"']],
  ['cleanup', { cleanup: 'yes' }, ['"yes" is not a boolean', 'use true or false']],
  ['dry-run', { 'dry-run': '1' }, ['"1" is not a boolean', 'use true or false']],
  ['comment', { comment: 'on' }, ['"on" is not a boolean', 'use true or false']],
  ['pr-number', { 'pr-number': '0' }, ['"0" is not a positive whole number', 'e.g. "42"']],
  ['pr-number', { 'pr-number': '12abc' }, ['"12abc" is not a positive whole number', 'e.g. "42"']],
  ['context', { context: 'my context' }, ['"my context" contains whitespace', 'context in the kubeconfig']],
  [
    'context',
    { context: 'ctx-z', kubeconfig: KUBECONFIG },
    [
      '"ctx-z" is not a context of the given kubeconfig (it has 2 contexts: ctx-a, ctx-b)',
      'context in the kubeconfig',
    ],
  ],
  ['route', { route: 'a\u0001b' }, ['must be a single line', 'http route']],
  ['chart-version', { 'chart-version': '1.0\u0007' }, ['must be a single line', 'e.g. "1.4.2"']],
];

describe('parseInputs: bad inputs', () => {
  it.each(BAD)('%s %j', (name, overrides, fragments) => {
    const e = errorOf({ ...base(), ...overrides });
    const line = e.problems.find(
      (p) => p.startsWith(`Input '${name}':`) && fragments.every((f) => p.includes(f)),
    );
    if (!line)
      throw new Error(
        `no error line for '${name}' containing ${JSON.stringify(fragments)}; got:\n${e.message}`,
      );
    // "names the input ... what is wrong; allowed form"
    expect(line).toMatch(new RegExp(`^Input '${name}': .+; .+`));
  });

  it('names only inputs of action.yml, and only inputs that were given or are required', () => {
    for (const [name, overrides] of BAD) {
      const named = errorOf({ ...base(), ...overrides }).problems.map((p) => /^Input '([^']+)'/.exec(p)?.[1]);
      expect(INPUT_NAMES).toEqual(expect.arrayContaining(named));
      // A problem with one input never blames an input that was left alone.
      for (const n of named)
        expect([name, ...Object.keys(overrides), 'chart', 'release', 'virtual-service']).toContain(n);
    }
  });

  it('matches the example message of the brief', () => {
    expect(errorOf({ ...base(), steps: '10,5,100' }).message).toBe(
      `Input 'steps': "10,5,100" is not strictly ascending (5 after 10); use comma-separated percentages 1-100 in ascending order, each optionally with @duration, ending at 100, e.g. "10,25,50,100" or "10@2m,50@5m,100"`,
    );
  });

  it('collects every problem into one InputError, one per line', () => {
    const e = errorOf({
      command: 'deploy',
      steps: '50,10',
      interval: '5',
      namespace: 'BAD',
      'verify-rps': '-1',
      cleanup: 'maybe',
      'pr-number': 'x',
    });
    const names = e.problems.map((p) => /^Input '([^']+)'/.exec(p)?.[1]);
    expect(names).toEqual(
      expect.arrayContaining([
        'command',
        'release',
        'virtual-service',
        'steps',
        'interval',
        'namespace',
        'verify-rps',
        'cleanup',
        'pr-number',
      ]),
    );
    expect(e.message.split('\n')).toEqual(e.problems);
    expect(e.name).toBe('InputError');
    expect(e).toBeInstanceOf(Error);
  });
});

describe('secrets never appear in error messages', () => {
  const setCases = [
    `db.password=${SECRET}`, // valid line next to bad ones
    SECRET, // no '='
    `=${SECRET}`, // empty key
    `db pass=${SECRET}`, // whitespace in key
    `${SECRET}  x=1`,
  ];

  it.each(setCases)('set line %#', (line) => {
    let message = '';
    try {
      parseInputs({ ...base(), set: `a=1\n${line}\nbroken`, steps: 'bad' }, env);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain("Input 'set': line");
    expect(message).toContain('key=value');
    expect(message).not.toContain(SECRET);
    expect(message).not.toContain('hunter2');
  });

  it('does not echo --set values in helm-args', () => {
    const e = errorOf({
      ...base(),
      'helm-args': `--set\n${SECRET}\n--set-string=db.pw=${SECRET} --wait\n--set-json x=${SECRET}`,
    });
    expect(e.message).toContain("Input 'helm-args'");
    expect(e.message).not.toContain(SECRET);
  });

  it('does not echo the kubeconfig or the token', () => {
    const e = errorOf({ ...base(), kubeconfig: `- ${SECRET}\n- x`, 'github-token': `ghp ${SECRET}` });
    expect(e.message).toContain("Input 'kubeconfig': is neither kubeconfig YAML nor base64");
    expect(e.message).toContain("Input 'github-token': contains whitespace");
    expect(e.message).not.toContain(SECRET);
  });

  it('rejects a kubeconfig file path without echoing it', () => {
    const e = errorOf({ ...base(), kubeconfig: './kubeconfig.yaml' });
    expect(e.message).toContain('is a file path');
    expect(e.message).toContain('KUBECONFIG environment variable');
    expect(e.message).not.toContain('kubeconfig.yaml');
  });

  it('does not echo header values', () => {
    const e = errorOf({
      ...base(),
      'verify-headers': `Authorization Bearer ${SECRET}\nX-A: 1\nx-a: ${SECRET}`,
    });
    expect(e.message).toContain("Input 'verify-headers'");
    expect(e.message).not.toContain(SECRET);
  });

  it('registers set values, --set args, kubeconfig credentials and the token', () => {
    const s = secretsOf({
      set: `db.password=${SECRET}\nimage.tag=v1`,
      'helm-args': `--set-string api.key=k-${SECRET}\n--wait`,
      kubeconfig: Buffer.from(KUBECONFIG).toString('base64'),
      'github-token': 'ghs_token',
    });
    expect(s).toEqual(
      expect.arrayContaining([
        SECRET,
        `db.password=${SECRET}`,
        `k-${SECRET}`,
        KUBECONFIG,
        `kube-${SECRET}`,
        'ghs_token',
      ]),
    );
    // Too short or harmless to mask: masking "v1" would blank it out of every log line.
    expect(s).not.toContain('v1');
  });
});

/** What parsing registers (valid or not), with base() around the given inputs. */
function secretsOf(raw: Record<string, string>): string[] {
  const secrets = new SecretRegistry();
  try {
    parseInputs({ ...base(), ...raw }, env, secrets);
  } catch {
    // invalid inputs register their secrets all the same
  }
  return secrets.values();
}

describe('secrets registered while parsing', () => {
  it('every verify-headers value, and the credential after the scheme', () => {
    const s = secretsOf({
      'verify-headers': `Authorization: Bearer ${SECRET}\nX-Api-Key: key-${SECRET}\nAccept: application/json`,
    });
    // All header values, so that masking and report redaction agree.
    expect(s).toEqual(
      expect.arrayContaining([`Bearer ${SECRET}`, SECRET, `key-${SECRET}`, 'application/json']),
    );
  });

  it('set items split on unescaped commas, as helm does', () => {
    const s = secretsOf({ set: 'a=one1,b=two\\,2\nc=x=y' });
    // The whole input; per line the line, the value after the first '=' and each pair's value
    // ("x=y" is too short to mask).
    expect(s).toEqual([
      'a=one1,b=two\\,2\nc=x=y',
      'a=one1,b=two\\,2',
      'one1,b=two\\,2',
      'one1',
      'two\\,2',
      'c=x=y',
    ]);
  });

  it('--set-file paths, --password values and URL credentials in helm-args', () => {
    const s = secretsOf({
      'helm-args': `--set-file cert=/run/secrets/${SECRET}.pem\n--password=pw-${SECRET}\n--repo https://bot:rp-${SECRET}@charts.example.com`,
    });
    expect(s).toEqual(
      expect.arrayContaining([
        `/run/secrets/${SECRET}.pem`,
        `pw-${SECRET}`,
        `bot:rp-${SECRET}`,
        `rp-${SECRET}`,
      ]),
    );
  });

  it('URL passwords (raw and decoded) in verify-url, values-files and chart', () => {
    expect(secretsOf({ 'verify-url': `https://probe:p%40ss-${SECRET}@my-app.example.com/` })).toEqual(
      expect.arrayContaining([`probe:p%40ss-${SECRET}`, `p%40ss-${SECRET}`, `p@ss-${SECRET}`]),
    );
    expect(
      secretsOf({ 'values-files': `values.yaml\nhttps://ci:vf-${SECRET}@example.com/v.yaml` }),
    ).toContain(`vf-${SECRET}`);
    expect(secretsOf({ chart: `https://tok-${SECRET}@charts.example.com/app-1.tgz` })).toContain(
      `tok-${SECRET}`,
    );
  });

  it('kubeconfig exec-plugin env values and token args, and each line of a wrapped base64', () => {
    const kc = [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{ name: c1, cluster: { server: "https://127.0.0.1:6443" } }]',
      'users:',
      '- name: u1',
      '  user:',
      '    exec:',
      '      command: aws',
      '      args: [eks, get-token, --cluster-name, prod, --role-token, "rt-' + SECRET + '"]',
      '      env: [{ name: AWS_SECRET_ACCESS_KEY, value: "env-' + SECRET + '" }]',
      'contexts: [{ name: ctx-a, context: { cluster: c1, user: u1 } }]',
    ].join('\n');
    const wrapped = Buffer.from(kc)
      .toString('base64')
      .replace(/(.{60})/g, '$1\n');
    const s = secretsOf({ kubeconfig: wrapped, context: 'ctx-a' });
    expect(s).toEqual(
      expect.arrayContaining([
        kc,
        `env-${SECRET}`,
        `rt-${SECRET}`,
        ...wrapped.split('\n').filter((l) => l.length >= 4),
      ]),
    );
    expect(s).not.toContain('prod');
    expect(s).not.toContain('get-token');
  });
});

describe('parseInputs: warnings', () => {
  it('warns about verify-* inputs without verify-url, and about no verification at all when allowed', () => {
    const raw = {
      ...base(),
      'verify-url': '',
      'verify-rps': '10',
      'verify-status': '200-399',
      'allow-unverified': 'true',
    };
    const w = parseInputs(raw, env).warnings?.join('\n') ?? '';
    expect(w).toContain("Inputs 'verify-rps' have no effect without 'verify-url'");
    expect(w).not.toContain("'verify-status'"); // equal to the default
    expect(w).toContain('nothing is verified');
  });

  it('warns about a fraction-looking success-rate, chart-version on a local chart and helm-timeout >= timeout', () => {
    const w = parseInputs(
      { ...base(), 'success-rate': '0.99', 'chart-version': '1.0.0', 'helm-timeout': '1h', timeout: '1h' },
      env,
    ).warnings?.join('\n');
    expect(w).toContain('0.99 means 0.99%');
    expect(w).toContain("'chart-version' (1.0.0) is ignored for a local chart");
    expect(w).toContain("'helm-timeout' (1h) is not shorter than 'timeout' (1h)");
  });
});

describe('action.yml', () => {
  const action = parseYaml(fs.readFileSync(new URL('../../action.yml', import.meta.url), 'utf8'));

  it('names the same inputs as the table, in the same order, with the same defaults', () => {
    expect(Object.keys(action.inputs)).toEqual(INPUTS.map((i) => i.name));
    expect(INPUT_NAMES).toEqual(INPUTS.map((i) => i.name));
    for (const i of INPUTS) {
      const declared = action.inputs[i.name].default;
      const expected = i.actionDefault ?? (i.default === '' ? undefined : i.default);
      expect([i.name, declared === undefined ? undefined : String(declared)]).toEqual([i.name, expected]);
      expect([i.name, INPUT_DEFAULTS[i.name]]).toEqual([i.name, i.default]);
    }
  });

  it('marks as secret exactly the inputs whose description starts "Secret."', () => {
    for (const i of INPUTS)
      expect([i.name, i.secret]).toEqual([
        i.name,
        String(action.inputs[i.name].description).startsWith('Secret.'),
      ]);
    expect(INPUTS.filter((i) => i.secret).map((i) => i.name)).toEqual([
      'set',
      'prometheus-token',
      'kubeconfig',
      'github-token',
    ]);
  });

  it('marks as multiline exactly the inputs described as one item "per line"', () => {
    for (const i of INPUTS)
      expect([i.name, i.multiline]).toEqual([
        i.name,
        /\bper line\b/.test(String(action.inputs[i.name].description)),
      ]);
    expect(INPUTS.filter((i) => i.multiline).map((i) => i.name)).toEqual([
      'values-files',
      'set',
      'helm-args',
      'virtual-service',
      'verify-host',
      'verify-headers',
    ]);
  });

  it('only github-token has an action.yml default the code does not apply itself', () => {
    expect(INPUTS.filter((i) => i.actionDefault !== undefined).map((i) => [i.name, i.default])).toEqual([
      ['github-token', ''],
    ]);
  });

  it('declares the outputs and the runtime', () => {
    expect(action.name).toBe('helm-canary');
    expect(action.branding).toBeDefined();
    expect(action.runs).toEqual({
      using: 'node24',
      main: 'dist/index.js',
      post: 'dist/index.js',
      'post-if': 'always()',
    });
    expect(Object.keys(action.outputs)).toEqual([
      'status',
      'stable-release',
      'canary-release',
      'weight',
      'report-json',
      'summary',
    ]);
  });
});

describe('getInputs', () => {
  const saved = { ...process.env };
  const savedCwd = process.cwd();
  beforeEach(() => {
    for (const k of Object.keys(runnerInputs)) delete runnerInputs[k];
    jest.clearAllMocks();
  });
  afterAll(() => {
    process.env = saved;
    process.chdir(savedCwd);
  });

  it('reads every input, masks secrets before validating, emits warnings and uses the GITHUB_* env', async () => {
    // What the runner passes: action.yml defaults filled in.
    for (const n of INPUT_NAMES) runnerInputs[n] = INPUT_DEFAULTS[n];
    Object.assign(runnerInputs, base(), {
      'verify-url': '',
      'allow-unverified': 'true',
      set: `db.password=${SECRET}\nimage.tag=v1`,
      kubeconfig: KUBECONFIG,
      'github-token': 'ghs_runner_token',
    });
    process.env.GITHUB_REF = 'refs/tags/v3.1.0';
    delete process.env.GITHUB_REF_TYPE;
    delete process.env.GITHUB_REF_NAME;
    process.env.GITHUB_SHA = 'abcdef0123456789';
    process.env.GITHUB_EVENT_NAME = 'push';
    process.chdir(dir);

    const s = await getInputs();
    expect(s.version).toBe('v3.1.0');
    expect(s.canaryRelease).toBe('my-app-v3-1-0');
    expect(s.set).toEqual([`db.password=${SECRET}`, 'image.tag=v1']);
    const asked = new Set(
      [...core.getInput.mock.calls, ...core.getMultilineInput.mock.calls].map((c) => c[0]),
    );
    expect([...asked].sort()).toEqual([...INPUT_NAMES].sort());
    const masked = core.setSecret.mock.calls.map((c) => c[0]);
    expect(masked).toEqual(
      expect.arrayContaining([SECRET, KUBECONFIG, `kube-${SECRET}`, 'ghs_runner_token']),
    );
    expect(core.warning).toHaveBeenCalledWith(expect.stringContaining('nothing is verified'));
  });

  it('masks secrets even when validation fails, and throws InputError', async () => {
    Object.assign(runnerInputs, base(), { set: SECRET, steps: '1,2' });
    process.chdir(dir);
    await expect(getInputs()).rejects.toThrow(InputError);
    expect(core.setSecret).toHaveBeenCalledWith(SECRET);
  });
});

describe('issue 9 inputs', () => {
  const tls = path.resolve('__tests__/fixtures/tls');
  const CA = fs.readFileSync(path.join(tls, 'ca.pem'), 'utf8');

  it('defaults: a 30 s pre-traffic check, header x-canary, 2 s settle, 10 s drain, max-bake 3x each bake', () => {
    const s = parseInputs({ ...base(), steps: '10@1m,100@2m' }, env);
    expect(s).toMatchObject({
      precheckMs: 30_000,
      canaryHeader: 'x-canary',
      settleMs: 2000,
      drainMs: 10_000,
      maxBakeMs: undefined,
      allowUnverified: false,
    });
    expect(s.verify.ca).toBeUndefined();
    expect(s.steps).toEqual([
      { weight: 10, bakeMs: 60_000, maxBakeMs: 180_000 },
      { weight: 100, bakeMs: 120_000, maxBakeMs: 360_000 },
    ]);
  });

  it('parses given values; max-bake applies to every step but never below its bake', () => {
    const s = parseInputs(
      {
        ...base(),
        precheck: '0s',
        'canary-header': 'X-Pin-To',
        settle: '500ms',
        drain: '0',
        'max-bake': '3m',
        steps: '10@1m,100@5m',
        timeout: '1h',
      },
      env,
    );
    expect(s).toMatchObject({
      precheckMs: 0,
      canaryHeader: 'x-pin-to',
      settleMs: 500,
      drainMs: 0,
      maxBakeMs: 180_000,
    });
    expect(s.steps.map((x) => x.maxBakeMs)).toEqual([180_000, 300_000]);
    expect(s.warnings?.join('\n')).toContain(
      "Input 'max-bake' (3m) is shorter than the bake of step(s) 100%; those steps are never extended.",
    );
  });

  it('warns when steps extended up to max-bake would run into the timeout', () => {
    const w = parseInputs({ ...base(), steps: '50@5m,100@5m', timeout: '20m' }, env).warnings?.join('\n');
    expect(w).toMatch(
      /extended up to 'max-bake' \(three times each step's bake\); all of them together \(\d+s\) would run into 'timeout' \(20m\)/,
    );
  });

  it('verify-ca takes PEM content or a file holding it', () => {
    expect(parseInputs({ ...base(), 'verify-ca': CA }, env).verify.ca).toBe(CA);
    const file = path.join(dir, 'ca-bundle.pem');
    fs.writeFileSync(file, `# our gateway CA\n${CA}`);
    expect(parseInputs({ ...base(), 'verify-ca': 'ca-bundle.pem' }, env).verify.ca).toBe(CA);
  });

  it('a bad verify-ca is an input error', () => {
    const keyFile = path.join(tls, 'server-key.pem');
    const broken = CA.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
    const problems = (ca: string) => errorOf({ ...base(), 'verify-ca': ca }).problems.join('\n');
    expect(problems('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----')).toMatch(
      /^Input 'verify-ca': has a certificate \(#1\) that does not parse: .*; use PEM CA certificates/,
    );
    expect(problems(broken)).toMatch(/^Input 'verify-ca': has a certificate \(#1\) that does not parse/);
    expect(problems('-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----')).toMatch(
      /^Input 'verify-ca': holds no PEM certificate;/,
    );
    expect(problems(keyFile)).toMatch(
      new RegExp(
        `^Input 'verify-ca': "${keyFile}" holds a private key \\(file ${keyFile}\\); verify-ca takes CA certificates only`,
      ),
    );
    expect(problems('missing-ca.pem')).toMatch(
      /"missing-ca\.pem" is neither PEM content .* nor an existing file/,
    );
    // PEM content is never echoed in the error line
    expect(problems(broken)).not.toContain(CA.split('\n')[2]);
  });

  it('canary-header must be a header name the probes do not send already', () => {
    expect(errorOf({ ...base(), 'canary-header': 'x canary' }).problems).toEqual([
      expect.stringMatching(
        /^Input 'canary-header': "x canary" is not a valid header name; use an HTTP header name/,
      ),
    ]);
    expect(errorOf({ ...base(), 'canary-header': 'Host' }).problems[0]).toMatch(
      /"Host" is a header the gateway or HTTP itself uses/,
    );
    expect(errorOf({ ...base(), 'verify-headers': 'X-Canary: always' }).problems[0]).toMatch(
      /^Input 'canary-header': "x-canary" is also set in 'verify-headers'/,
    );
  });

  it('no verification at all is an input error unless allow-unverified is true', () => {
    const none = { ...base(), 'verify-url': '' };
    expect(errorOf(none).problems).toEqual([
      "Input 'verify-url': is empty and so is 'verify-command': nothing would verify the new release before users get it; " +
        `set 'verify-url' (probed through the gateway, e.g. "https://my-app.example.com/healthz"), 'verify-command' or 'metrics' (with 'prometheus-url'), or set 'allow-unverified: true' to roll out without verification`,
    ]);
    expect(parseInputs({ ...none, 'verify-command': './smoke.sh' }, env).verify.command).toBe('./smoke.sh');
    const allowed = parseInputs({ ...none, 'allow-unverified': 'true' }, env);
    expect(allowed.allowUnverified).toBe(true);
    expect(allowed.warnings?.join('\n')).toMatch(/allow-unverified is true .* nothing is verified/);
    expect(errorOf({ ...none, 'allow-unverified': 'maybe' }).problems.join('\n')).toMatch(
      /Input 'allow-unverified': "maybe"/,
    );
  });

  it('the timeout covers the pre-traffic check and the settle times when probing', () => {
    // 2 steps of 1m + precheck 30s + 3 settles of 2s = 156s
    expect(errorOf({ ...base(), steps: '50@1m,100@1m', timeout: '2m30s' }).problems[0]).toMatch(
      /"2m30s" is not longer than the total bake time of the steps with the pre-traffic check and settle times \(156s\)/,
    );
    expect(
      parseInputs({ ...base(), steps: '50@1m,100@1m', timeout: '2m30s', precheck: '0s', settle: '0s' }, env)
        .timeoutMs,
    ).toBe(150_000);
  });
});

describe('issue 10 inputs (Istio modes)', () => {
  it('one VirtualService works as before; several, one per line, keep their order', () => {
    const one = parseInputs(base(), env);
    expect(one.virtualService).toBe('my-app');
    expect(one.virtualServices).toEqual(['my-app']);
    expect(one.destinationRule).toBeUndefined();
    expect(one.subsetLabel).toBe('app.kubernetes.io/instance');
    const two = parseInputs({ ...base(), 'virtual-service': 'web-gw\nweb-mesh' }, env);
    expect(two.virtualService).toBe('web-gw');
    expect(two.virtualServices).toEqual(['web-gw', 'web-mesh']);
  });

  it('a VirtualService named twice, or a bad name among several, is an input error', () => {
    const twice = errorOf({ ...base(), 'virtual-service': 'a\nb\na' });
    expect(twice.message).toMatch(/Input 'virtual-service'.*"a".*listed twice/);
    const bad = errorOf({ ...base(), 'virtual-service': 'a\nB_C' });
    expect(bad.message).toMatch(/Input 'virtual-service'.*"B_C".*not a valid Kubernetes resource name/);
  });

  it('verify-host: one host as before; several, one per line, are all probed', () => {
    const one = parseInputs(
      { ...base(), 'verify-url': 'http://gw/', 'verify-host': 'shop.example.com' },
      env,
    );
    expect(one.verify).toMatchObject({ host: 'shop.example.com' });
    expect(one.verify.hosts).toBeUndefined();
    const two = parseInputs(
      {
        ...base(),
        'verify-url': 'http://gw/',
        'verify-host': 'shop.example.com\nshop.shop.svc.cluster.local',
      },
      env,
    );
    expect(two.verify).toMatchObject({
      host: 'shop.example.com',
      hosts: ['shop.example.com', 'shop.shop.svc.cluster.local'],
    });
    expect(errorOf({ ...base(), 'verify-url': 'http://gw/', 'verify-host': 'a.b\na.b' }).message).toMatch(
      /Input 'verify-host'.*"a\.b".*listed twice/,
    );
  });

  it('destination-rule and subset-label: names and label keys are checked', () => {
    const s = parseInputs({ ...base(), 'destination-rule': 'my-app', 'subset-label': 'version' }, env);
    expect(s).toMatchObject({ destinationRule: 'my-app', subsetLabel: 'version' });
    expect(errorOf({ ...base(), 'destination-rule': 'My App' }).message).toMatch(/Input 'destination-rule'/);
    for (const bad of ['-x', 'a/b/', 'Bad_Prefix/x', 'x'.repeat(64)])
      expect(errorOf({ ...base(), 'destination-rule': 'd', 'subset-label': bad }).message).toMatch(
        /Input 'subset-label'.*not a valid label key/,
      );
    const warned = parseInputs({ ...base(), 'subset-label': 'version' }, env);
    expect(warned.warnings).toContainEqual(expect.stringContaining("'subset-label' has no effect"));
  });
});
