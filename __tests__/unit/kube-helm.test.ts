/* eslint-disable @typescript-eslint/no-explicit-any -- fixtures are loose Kubernetes objects */
import { jest, describe, it, expect, beforeEach } from '@jest/globals';

type Call = { tool: string; args: string[]; options: any };
type Reply = { exitCode?: number; stdout?: string; stderr?: string; aborted?: boolean };
let calls: Call[] = [];
let handler: (args: string[]) => Reply = () => ({});
const logged: string[] = [];

// The helpers run every tool through exec-util's runTool: replace just that (the display and
// tail helpers stay real). runTool is silent unless given onOutput, and never throws for an exit code.
const execUtil = await import('../../src/kube/exec-util.js');
jest.unstable_mockModule('../../src/kube/exec-util.js', () => ({
  ...execUtil,
  runTool: jest.fn(async (tool: string, args: string[] = [], options: any = {}) => {
    calls.push({ tool, args: [...args], options });
    const r = handler(args);
    return {
      exitCode: r.exitCode ?? 0,
      stdout: r.stdout ?? '',
      stderr: r.stderr ?? '',
      ...(r.aborted ? { aborted: true } : {}),
    };
  }),
}));
jest.unstable_mockModule('@actions/io', () => ({ which: jest.fn(async (t: string) => `/opt/bin/${t}`) }));
jest.unstable_mockModule('@actions/core', () => ({
  info: (s: string) => logged.push(s),
  debug: (s: string) => logged.push(s),
  warning: (s: string) => logged.push(s),
  error: (s: string) => logged.push(s),
}));

const { createHelm, helmFlags, redactArgs, servicesInManifest, goDuration, parseHelmMajor } =
  await import('../../src/kube/helm-helper.js');
const { SecretRegistry } = await import('../../src/lib/secrets.js');

const SECRET = 's3cr3t-db-password';
// What input parsing registers for the set and helm-args below.
const secrets = new SecretRegistry();
secrets.addAll([`db.password=${SECRET}`, SECRET, `token=${SECRET}x`, `${SECRET}x`]);
const KUBE = { kubeconfigPath: '/tmp/kc.yaml', context: 'prod-ctx', namespace: 'shop', secrets };

function versionOf(v: string): (args: string[]) => Reply | undefined {
  return (args) => (args[0] === 'version' ? { stdout: `${v}\n` } : undefined);
}

async function helmOf(v: string, rest: (args: string[]) => Reply = () => ({})) {
  const ver = versionOf(v);
  handler = (args) => ver(args) ?? rest(args);
  const helm = await createHelm(KUBE);
  calls = [];
  logged.length = 0;
  return helm;
}

const install = {
  release: 'shop-v2',
  chart: './chart',
  chartVersion: '1.2.3',
  namespace: 'shop',
  valuesFiles: ['values.yaml', 'prod.yaml'],
  set: [`db.password=${SECRET}`, 'image.tag=v2'],
  extraArgs: ['--create-namespace', '--set-string', `token=${SECRET}x`],
  timeoutMs: 300_000,
  labels: { 'helm-canary.io/base': 'shop' },
};

const MANIFEST = `---
# Source: chart/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop-v2-web
  labels:
    app.kubernetes.io/instance: shop-v2
spec:
  ports:
    - port: 80
      name: http
    - port: 9090
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-v2-web
`;

beforeEach(() => {
  calls = [];
  logged.length = 0;
});

describe('helmFlags', () => {
  it('uses each major its own names', () => {
    expect(helmFlags(3)).toEqual({
      wait: ['--wait'],
      rollbackOnFailure: ['--atomic'],
      uninstallWait: ['--wait'],
      listAll: ['--all'],
    });
    expect(helmFlags(4)).toEqual({
      wait: ['--wait=watcher'],
      rollbackOnFailure: ['--rollback-on-failure'],
      uninstallWait: ['--wait=watcher'],
      listAll: [],
    });
  });
});

describe('redactArgs', () => {
  it('hides every --set-like value in both spellings', () => {
    expect(
      redactArgs([
        'install',
        'r',
        'c',
        '--set',
        'a=1',
        '--set-string',
        'b=2',
        '--set-file',
        'c=f.txt',
        '--set-json',
        'd={"x":1}',
        '--set-literal',
        'e=5',
        '--set=f=6',
        '--set-string=g=7',
        '-f',
        'values.yaml',
        '--timeout',
        '300s',
      ]),
    ).toEqual([
      'install',
      'r',
      'c',
      '--set',
      '***',
      '--set-string',
      '***',
      '--set-file',
      '***',
      '--set-json',
      '***',
      '--set-literal',
      '***',
      '--set=***',
      '--set-string=***',
      '-f',
      'values.yaml',
      '--timeout',
      '300s',
    ]);
  });
  it('hides bare key=value args that follow a --set flag, but not positionals or other flags', () => {
    expect(redactArgs(['--set', 'a=1', 'b=2', 'c=3', 'chart', '--wait', 'x=y'])).toEqual([
      '--set',
      '***',
      '***',
      '***',
      'chart',
      '--wait',
      'x=y',
    ]);
  });
  it('hides credential flags', () => {
    expect(redactArgs(['--kube-token', 'tok', '--password=pw'])).toEqual([
      '--kube-token',
      '***',
      '--password=***',
    ]);
  });
  it('does not change a --set at the very end', () => {
    expect(redactArgs(['--set'])).toEqual(['--set']);
  });
});

describe('redaction with the secret registry', () => {
  it('hides registered values in the logged command line, also outside --set flags', async () => {
    const helm = await helmOf('v4.1.4', () => ({ stdout: MANIFEST }));
    await helm.template({ ...install, release: SECRET, labels: undefined });
    expect(calls[0].args).toContain(SECRET); // helm gets the value...
    const line = logged.find((l) => l.startsWith('[command]'));
    expect(line).toContain('template *** ./chart'); // ...the log does not
    expect(line).not.toContain(SECRET);
  });

  it('hides registered values in errors built from stderr, uninstall and list included', async () => {
    const helm = await helmOf('v4.1.4', () => ({
      exitCode: 1,
      stderr: `Error: secret "${SECRET}" is bad\n`,
    }));
    for (const call of [() => helm.uninstall('shop-v2', 'shop'), () => helm.list('shop')]) {
      const err = (await call().catch((e: unknown) => e)) as Error;
      expect(err.message).toContain('Error: secret "***" is bad');
      expect(err.message).not.toContain(SECRET);
    }
  });

  it('without a registry, shows stderr as it is', async () => {
    handler = (args) =>
      args[0] === 'version' ? { stdout: 'v4.1.4\n' } : { exitCode: 1, stderr: `bad ${SECRET}` };
    const helm = await createHelm({ namespace: 'shop' });
    await expect(helm.uninstall('x', 'shop')).rejects.toThrow(`bad ${SECRET}`);
  });
});

describe('goDuration / parseHelmMajor', () => {
  it('rounds up to seconds', () => {
    expect(goDuration(300_000)).toBe('300s');
    expect(goDuration(1)).toBe('1s');
    expect(goDuration(1500)).toBe('2s');
  });
  it('reads the major', () => {
    expect(parseHelmMajor('v3.17.3+ge4da497')).toBe(3);
    expect(parseHelmMajor('v4.1.4+g05fa379')).toBe(4);
    expect(() => parseHelmMajor('v2.16.0')).toThrow(/not supported/);
    expect(() => parseHelmMajor('garbage')).toThrow(/cannot read/);
  });
});

describe('servicesInManifest', () => {
  it('finds Services with ports and labels in a multi-document manifest', () => {
    expect(servicesInManifest(MANIFEST)).toEqual([
      { name: 'shop-v2-web', ports: [80, 9090], labels: { 'app.kubernetes.io/instance': 'shop-v2' } },
    ]);
  });
  it('keeps namespaces, handles List, empty docs and skips broken docs and non-core Service kinds', () => {
    const m = `---\n---\napiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: a, namespace: other}\n    spec: {ports: [{port: 8080}]}\n---\nkind: Service\napiVersion: serving.knative.dev/v1\nmetadata: {name: kn}\n---\nkind: Service\nmetadata: {name: [unclosed\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n`;
    expect(servicesInManifest(m)).toEqual([
      { name: 'a', namespace: 'other', ports: [8080], labels: {} },
      { name: 'b', ports: [], labels: {} },
    ]);
  });
  it('returns [] for an empty manifest', () => {
    expect(servicesInManifest('')).toEqual([]);
  });
});

describe('createHelm', () => {
  it('detects the major and version with `helm version --short`', async () => {
    handler = versionOf('v4.1.4+g05fa379') as any;
    const h = await createHelm(KUBE);
    expect(h).toMatchObject({ path: '/opt/bin/helm', version: 'v4.1.4', major: 4 });
    expect(calls[0].args).toEqual(['version', '--short']);
    expect(calls[0].options.onOutput).toBeUndefined(); // silent: nothing echoed
  });
});

describe.each([
  [3, 'v3.17.3+ge4da497', ['--wait', '--atomic']],
  [4, 'v4.1.4+g05fa379', ['--wait=watcher', '--rollback-on-failure']],
] as const)('helm %i install', (major, version, flags) => {
  it('builds the exact argv, runs silently, logs a redacted line, returns the manifest', async () => {
    const helm = await helmOf(version, () => ({
      stdout: JSON.stringify({ name: 'shop-v2', manifest: MANIFEST, config: { db: { password: SECRET } } }),
    }));
    expect(helm.major).toBe(major);
    const r = await helm.install(install);
    expect(r.manifest).toBe(MANIFEST);
    expect(calls).toHaveLength(1);
    expect(calls[0].tool).toBe('/opt/bin/helm');
    expect(calls[0].args).toEqual([
      'install',
      'shop-v2',
      './chart',
      '-n',
      'shop',
      '--version',
      '1.2.3',
      '-f',
      'values.yaml',
      '-f',
      'prod.yaml',
      '--set',
      `db.password=${SECRET}`,
      '--set',
      'image.tag=v2',
      ...flags,
      '--timeout',
      '300s',
      '--labels',
      'helm-canary.io/base=shop',
      '--create-namespace',
      '--set-string',
      `token=${SECRET}x`,
      '-o',
      'json',
      '--kubeconfig',
      '/tmp/kc.yaml',
      '--kube-context',
      'prod-ctx',
    ]);
    expect(calls[0].options.onOutput).toBeUndefined(); // silent: nothing echoed
    expect(logged.join('\n')).not.toContain(SECRET);
    expect(logged.join('\n')).not.toContain('image.tag=v2');
    expect(
      logged.some((l) => l.includes('install shop-v2 ./chart') && l.includes('--set *** --set ***')),
    ).toBe(true);
  });

  it('dry-run: --dry-run=server, no wait/rollback flags', async () => {
    const helm = await helmOf(version, () => ({ stdout: JSON.stringify({ manifest: MANIFEST }) }));
    await helm.install({ ...install, dryRun: true, labels: undefined, extraArgs: [] });
    const a = calls[0].args;
    expect(a).toContain('--dry-run=server');
    for (const f of flags) expect(a).not.toContain(f);
  });

  it('falls back to `helm get manifest` when stdout is not the release JSON', async () => {
    const helm = await helmOf(version, (args) =>
      args[0] === 'get' ? { stdout: MANIFEST } : { stdout: 'NAME: shop-v2\nSTATUS: deployed\n' },
    );
    const r = await helm.install({ ...install, extraArgs: ['-o', 'table'] });
    expect(r.manifest).toBe(MANIFEST);
    expect(calls[1].args).toEqual([
      'get',
      'manifest',
      'shop-v2',
      '-n',
      'shop',
      '--kubeconfig',
      '/tmp/kc.yaml',
      '--kube-context',
      'prod-ctx',
    ]);
  });

  it('throws with helm stderr, redacted', async () => {
    const helm = await helmOf(version, () => ({
      exitCode: 1,
      stderr: `Error: INSTALLATION FAILED: template: bad value "${SECRET}"; token=${SECRET}x\n`,
    }));
    const err = (await helm.install(install).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('helm install shop-v2 failed (exit 1)');
    expect(err.message).toContain('INSTALLATION FAILED');
    expect(err.message).not.toContain(SECRET);
  });
});

describe.each([
  [3, 'v3.17.3', ['--wait'], ['--all']],
  [4, 'v4.1.4', ['--wait=watcher'], []],
] as const)('helm %i other commands', (_major, version, wait, listAll) => {
  const kube = ['--kubeconfig', '/tmp/kc.yaml', '--kube-context', 'prod-ctx'];

  it('template', async () => {
    const helm = await helmOf(version, () => ({ stdout: MANIFEST }));
    expect(await helm.template({ ...install, labels: undefined })).toBe(MANIFEST);
    expect(calls[0].args).toEqual([
      'template',
      'shop-v2',
      './chart',
      '-n',
      'shop',
      '--version',
      '1.2.3',
      '-f',
      'values.yaml',
      '-f',
      'prod.yaml',
      '--set',
      `db.password=${SECRET}`,
      '--set',
      'image.tag=v2',
      '--create-namespace',
      '--set-string',
      `token=${SECRET}x`,
      ...kube,
    ]);
    expect(logged.join('\n')).not.toContain(SECRET);
  });

  it('uninstall waits and tolerates "not found"', async () => {
    const helm = await helmOf(version, () => ({
      exitCode: 1,
      stderr: 'Error: uninstall: Release not loaded: shop-v2: release: not found',
    }));
    await expect(helm.uninstall('shop-v2', 'shop', 60_000)).resolves.toBeUndefined();
    expect(calls[0].args).toEqual([
      'uninstall',
      'shop-v2',
      '-n',
      'shop',
      ...wait,
      '--timeout',
      '60s',
      ...kube,
    ]);
  });

  it('uninstall fails on other errors', async () => {
    const helm = await helmOf(version, () => ({
      exitCode: 1,
      stderr: 'Error: Kubernetes cluster unreachable',
    }));
    await expect(helm.uninstall('shop-v2', 'shop')).rejects.toThrow(/cluster unreachable/);
    expect(calls[0].args).toEqual(['uninstall', 'shop-v2', '-n', 'shop', ...wait, ...kube]);
  });

  it('status → info, or undefined when not found', async () => {
    const rel = {
      name: 'shop-v1',
      namespace: 'shop',
      version: 3,
      info: { status: 'deployed', last_deployed: '2025-01-01T00:00:00Z' },
      chart: { metadata: { name: 'web', version: '0.4.0', appVersion: '1.0.0' } },
    };
    let helm = await helmOf(version, () => ({ stdout: JSON.stringify(rel) }));
    expect(await helm.status('shop-v1', 'shop')).toEqual({
      name: 'shop-v1',
      namespace: 'shop',
      revision: 3,
      status: 'deployed',
      chart: 'web-0.4.0',
      appVersion: '1.0.0',
      updated: '2025-01-01T00:00:00Z',
    });
    expect(calls[0].args).toEqual(['status', 'shop-v1', '-n', 'shop', '-o', 'json', ...kube]);
    helm = await helmOf(version, () => ({ exitCode: 1, stderr: 'Error: release: not found' }));
    expect(await helm.status('nope', 'shop')).toBeUndefined();
    helm = await helmOf(version, () => ({ exitCode: 1, stderr: 'Error: Kubernetes cluster unreachable' }));
    await expect(helm.status('x', 'shop')).rejects.toThrow(/unreachable/);
  });

  it('status without chart metadata (real `helm status -o json`) takes chart and app version from helm list', async () => {
    const rel = { name: 'shop-v1', namespace: 'shop', version: 1, info: { status: 'deployed' } };
    const row = {
      name: 'shop-v1',
      namespace: 'shop',
      revision: '1',
      status: 'deployed',
      chart: 'web-0.4.0',
      app_version: '1.0.0',
    };
    const helm = await helmOf(version, (args) => ({
      stdout: JSON.stringify(args[0] === 'list' ? [row] : rel),
    }));
    const info = await helm.status('shop-v1', 'shop');
    expect(info?.chart).toBe('web-0.4.0');
    expect(info?.appVersion).toBe('1.0.0');
    expect(calls[1].args).toEqual(expect.arrayContaining(['list', '--filter', '^shop-v1$']));
  });

  it('list (with the major\'s "all statuses" flag)', async () => {
    const rows = [
      {
        name: 'a',
        namespace: 'shop',
        revision: '2',
        updated: '2025-01-01 00:00:00 +0000 UTC',
        status: 'failed',
        chart: 'web-0.4.0',
        app_version: '1.0',
      },
    ];
    let helm = await helmOf(version, () => ({ stdout: JSON.stringify(rows) }));
    expect(await helm.list('shop')).toEqual([
      {
        name: 'a',
        namespace: 'shop',
        revision: 2,
        status: 'failed',
        chart: 'web-0.4.0',
        appVersion: '1.0',
        updated: '2025-01-01 00:00:00 +0000 UTC',
      },
    ]);
    expect(calls[0].args).toEqual(['list', '-n', 'shop', '-o', 'json', ...listAll, ...kube]);
    helm = await helmOf(version, () => ({ stdout: '[]\n' }));
    expect(await helm.list('shop')).toEqual([]);
  });

  it('getManifest', async () => {
    const helm = await helmOf(version, () => ({ stdout: MANIFEST }));
    expect(await helm.getManifest('shop-v1', 'shop')).toBe(MANIFEST);
    expect(calls[0].args).toEqual(['get', 'manifest', 'shop-v1', '-n', 'shop', ...kube]);
  });
});

describe('no kubeconfig/context given', () => {
  it('adds no kube flags', async () => {
    handler = (args) => (args[0] === 'version' ? { stdout: 'v3.17.3' } : { stdout: '[]' });
    const helm = await createHelm({ namespace: 'shop', env: { HELM_DEBUG: 'false' } });
    calls = [];
    await helm.list('shop');
    expect(calls[0].args).toEqual(['list', '-n', 'shop', '-o', 'json', '--all']);
    expect(calls[0].options.env).toEqual({ HELM_DEBUG: 'false' });
    // runTool lays the extra variables over process.env (real-process test in exec-util.test.ts)
    expect(execUtil.mergedEnv(calls[0].options.env).PATH).toBe(process.env.PATH);
    expect(execUtil.mergedEnv(calls[0].options.env).HELM_DEBUG).toBe('false');
  });
});

describe('cancellation', () => {
  it('install, template, uninstall, status, list, manifest pass their own signal; none by default', async () => {
    const helm = await helmOf('v4.1.4', (args) => ({
      stdout:
        args[0] === 'install' ? JSON.stringify({ manifest: MANIFEST }) : args[0] === 'list' ? '[]' : '{}',
    }));
    const ac = new AbortController();
    await helm.install({ ...install, signal: ac.signal });
    await helm.template({ ...install, signal: ac.signal });
    await helm.uninstall('shop-v2', 'shop', 1000, { signal: ac.signal });
    await helm.list('shop', undefined, { signal: ac.signal });
    await helm.getManifest('shop-v2', 'shop', { signal: ac.signal });
    expect(calls.map((c) => c.args[0])).toEqual(['install', 'template', 'uninstall', 'list', 'get']);
    for (const c of calls) expect(c.options.signal).toBe(ac.signal);
    calls = [];
    // restore work after a cancel: no signal
    await helm.uninstall('shop-v2', 'shop', 1000);
    await helm.install(install);
    expect(calls).toHaveLength(2);
    for (const c of calls) expect(c.options.signal).toBeUndefined();
  });
  it('an aborted helm rejects with ToolAbortedError, redacted', async () => {
    const { ToolAbortedError } = execUtil;
    const helm = await helmOf('v3.17.3', () => ({
      exitCode: 143,
      aborted: true,
      stderr: `Error: ${SECRET}`,
    }));
    const e = (await helm.install(install).catch((x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(ToolAbortedError);
    expect(e.message).toBe('helm install shop-v2 was cancelled');
    expect(e.message).not.toContain(SECRET);
    await expect(helm.uninstall('shop-v2', 'shop')).rejects.toBeInstanceOf(ToolAbortedError);
  });
});
