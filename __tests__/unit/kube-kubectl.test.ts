/* eslint-disable @typescript-eslint/no-explicit-any -- fixtures are loose Kubernetes objects */
import { jest, describe, it, expect, beforeEach } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

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
let whichResult = '/opt/bin/kubectl';
jest.unstable_mockModule('@actions/io', () => ({ which: jest.fn(async () => whichResult) }));
jest.unstable_mockModule('@actions/core', () => ({
  info: (s: string) => logged.push(s),
  debug: (s: string) => logged.push(s),
  warning: (s: string) => logged.push(s),
  error: (s: string) => logged.push(s),
}));

const {
  createKubectl,
  objectApiPath,
  KubeAlreadyExistsError,
  KubeConflictError,
  KubeNotFoundError,
  FIELD_MANAGER,
} = await import('../../src/kube/kubectl-helper.js');
const { ToolAbortedError } = execUtil;
const { displayCommand } = execUtil;

const VERSION_JSON = JSON.stringify({ clientVersion: { major: '1', minor: '35', gitVersion: 'v1.35.2' } });
const KUBE = ['--kubeconfig', '/tmp/kc.yaml', '--context', 'prod-ctx'];
const VS = 'virtualservices.networking.istio.io';

async function kubectlWith(rest: (args: string[]) => Reply) {
  handler = (args) => (args[0] === 'version' ? { stdout: VERSION_JSON } : rest(args));
  const k = await createKubectl({ kubeconfigPath: '/tmp/kc.yaml', context: 'prod-ctx', namespace: 'shop' });
  calls = [];
  logged.length = 0;
  return k;
}

beforeEach(() => {
  calls = [];
  logged.length = 0;
  whichResult = '/opt/bin/kubectl';
});

describe('createKubectl', () => {
  it('finds kubectl and reads its client version', async () => {
    handler = () => ({ stdout: VERSION_JSON });
    const k = await createKubectl({ namespace: 'shop' });
    expect(k.path).toBe('/opt/bin/kubectl');
    expect(k.version).toBe('v1.35.2');
    expect(calls[0].args).toEqual(['version', '--client', '-o', 'json']);
    expect(calls[0].options.onOutput).toBeUndefined(); // silent: nothing echoed
  });
  it('explains a missing kubectl', async () => {
    whichResult = '';
    await expect(createKubectl({ namespace: 'shop' })).rejects.toThrow(/kubectl not found on PATH/);
  });
});

describe('get', () => {
  it('builds the argv with managed fields, namespace and kube flags', async () => {
    const k = await kubectlWith(() => ({ stdout: '{"kind":"VirtualService","metadata":{"name":"web"}}' }));
    expect(await k.get(VS, 'web')).toEqual({ kind: 'VirtualService', metadata: { name: 'web' } });
    expect(calls[0].args).toEqual([
      'get',
      VS,
      'web',
      '-n',
      'shop',
      '-o',
      'json',
      '--ignore-not-found',
      '--show-managed-fields',
      ...KUBE,
    ]);
    expect(calls[0].options.onOutput).toBeUndefined(); // silent: nothing echoed
  });
  it('uses the namespace given per call', async () => {
    const k = await kubectlWith(() => ({ stdout: '{}' }));
    await k.get('services', 'x', 'other');
    expect(calls[0].args.slice(0, 5)).toEqual(['get', 'services', 'x', '-n', 'other']);
  });
  it('returns undefined when not found (empty output or NotFound)', async () => {
    let k = await kubectlWith(() => ({ stdout: '' }));
    expect(await k.get(VS, 'nope')).toBeUndefined();
    k = await kubectlWith(() => ({
      exitCode: 1,
      stderr: `Error from server (NotFound): virtualservices.networking.istio.io "nope" not found`,
    }));
    expect(await k.get(VS, 'nope')).toBeUndefined();
  });
  it('throws KubeNotFoundError when the resource type is unknown (Istio CRDs missing)', async () => {
    const k = await kubectlWith(() => ({
      exitCode: 1,
      stderr: 'error: the server doesn\'t have a resource type "virtualservices"',
    }));
    await expect(k.get(VS, 'web')).rejects.toBeInstanceOf(KubeNotFoundError);
  });
  it('throws a plain Error with stderr on other failures', async () => {
    const k = await kubectlWith(() => ({
      exitCode: 1,
      stderr: 'Error from server (Forbidden): virtualservices is forbidden: User "ci" cannot get resource',
    }));
    const e = (await k.get(VS, 'web').catch((x: unknown) => x)) as Error;
    expect(e.constructor).toBe(Error);
    expect(e.message).toMatch(/Forbidden/);
  });
});

describe('list', () => {
  it('returns items and passes the label selector', async () => {
    const k = await kubectlWith(() => ({ stdout: JSON.stringify({ items: [{ a: 1 }, { a: 2 }] }) }));
    expect(await k.list('services', undefined, 'app=web')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(calls[0].args).toEqual(['get', 'services', '-n', 'shop', '-o', 'json', '-l', 'app=web', ...KUBE]);
  });

  it('listAll lists every namespace', async () => {
    const k = await kubectlWith(() => ({ stdout: JSON.stringify({ items: [{ a: 1 }] }) }));
    expect(await k.listAll('serviceentries.networking.istio.io')).toEqual([{ a: 1 }]);
    expect(calls[0].args).toEqual([
      'get',
      'serviceentries.networking.istio.io',
      '--all-namespaces',
      '-o',
      'json',
      ...KUBE,
    ]);
  });
});

describe('patchJson', () => {
  const ops = [
    { op: 'test' as const, path: '/metadata/resourceVersion', value: '42' },
    {
      op: 'replace' as const,
      path: '/spec/http/0/route',
      value: [{ destination: { host: 'a' }, weight: 100 }],
    },
  ];
  it('builds the argv with our field manager and returns the patched object', async () => {
    const k = await kubectlWith(() => ({ stdout: '{"metadata":{"resourceVersion":"43"}}' }));
    expect(await k.patchJson(VS, 'web', ops)).toEqual({ metadata: { resourceVersion: '43' } });
    expect(calls[0].args).toEqual([
      'patch',
      VS,
      'web',
      '-n',
      'shop',
      '--type=json',
      `--field-manager=${FIELD_MANAGER}`,
      '-p',
      JSON.stringify(ops),
      '-o',
      'json',
      ...KUBE,
    ]);
    expect(FIELD_MANAGER).toBe('helm-canary');
    expect(logged.some((l) => l.includes('patch') && l.includes('--type=json'))).toBe(true);
    // One log line, and it is exactly the argv that ran: nothing else reaches the log.
    expect(logged).toEqual([`[command]${displayCommand('/opt/bin/kubectl', calls[0].args)}`]);
  });
  it.each([
    [
      'Error from server (Conflict): Operation cannot be fulfilled on virtualservices.networking.istio.io "web": the object has been modified; please apply your changes to the latest version and try again',
    ],
    ['Error from server (Invalid): the server rejected our request due to an error in our request'],
    ['The request is invalid: \n* : testing value /metadata/resourceVersion failed: test failed'],
    ['The VirtualService "web" is invalid: <nil>: Invalid value: "": test failed'],
  ])('maps a failed guard to KubeConflictError: %s', async (stderr) => {
    const k = await kubectlWith(() => ({ exitCode: 1, stderr }));
    await expect(k.patchJson(VS, 'web', ops)).rejects.toBeInstanceOf(KubeConflictError);
  });
  it('does not map 422 to a conflict when the patch has no test op', async () => {
    const k = await kubectlWith(() => ({ exitCode: 1, stderr: 'Error from server (Invalid): bad' }));
    const e = (await k.patchJson(VS, 'web', [ops[1]]).catch((x: unknown) => x)) as Error;
    expect(e).not.toBeInstanceOf(KubeConflictError);
    expect(e.message).toMatch(/Invalid/);
  });
  it('maps a 409 without test ops to KubeConflictError too', async () => {
    const k = await kubectlWith(() => ({ exitCode: 1, stderr: 'Error from server (Conflict): x' }));
    await expect(k.patchJson(VS, 'web', [ops[1]])).rejects.toBeInstanceOf(KubeConflictError);
  });
  it('maps NotFound to KubeNotFoundError', async () => {
    const k = await kubectlWith(() => ({
      exitCode: 1,
      stderr: 'Error from server (NotFound): virtualservices.networking.istio.io "web" not found',
    }));
    await expect(k.patchJson(VS, 'web', ops)).rejects.toBeInstanceOf(KubeNotFoundError);
  });
  it('keeps other errors plain (webhook denial)', async () => {
    const k = await kubectlWith(() => ({
      exitCode: 1,
      stderr:
        'Error from server (BadRequest): admission webhook "validation.istio.io" denied the request: total destination weight 90 != 100',
    }));
    const e = (await k.patchJson(VS, 'web', ops).catch((x: unknown) => x)) as Error;
    expect(e.constructor).toBe(Error);
    expect(e.message).toMatch(/total destination weight 90/);
  });
});

describe('annotate', () => {
  it('sets, removes, overwrites with our field manager', async () => {
    const k = await kubectlWith(() => ({}));
    await k.annotate(
      VS,
      'web',
      { 'helm-canary.io/status': 'progressing', 'helm-canary.io/run-url': null },
      'shop',
    );
    expect(calls[0].args).toEqual([
      'annotate',
      VS,
      'web',
      'helm-canary.io/status=progressing',
      'helm-canary.io/run-url-',
      '-n',
      'shop',
      '--overwrite',
      `--field-manager=${FIELD_MANAGER}`,
      ...KUBE,
    ]);
  });
  it('does nothing for no annotations', async () => {
    const k = await kubectlWith(() => ({}));
    await k.annotate(VS, 'web', {});
    expect(calls).toHaveLength(0);
  });
  it('throws on failure', async () => {
    const k = await kubectlWith(() => ({ exitCode: 1, stderr: 'Error from server (Forbidden): nope' }));
    await expect(k.annotate(VS, 'web', { a: 'b' })).rejects.toThrow(/Forbidden/);
  });
});

describe('namespaceLabels', () => {
  it('returns labels, {} without labels, undefined when missing', async () => {
    let k = await kubectlWith(() => ({
      stdout: JSON.stringify({ metadata: { labels: { 'istio-injection': 'enabled' } } }),
    }));
    expect(await k.namespaceLabels('shop')).toEqual({ 'istio-injection': 'enabled' });
    expect(calls[0].args.slice(0, 3)).toEqual(['get', 'namespace', 'shop']);
    k = await kubectlWith(() => ({ stdout: JSON.stringify({ metadata: {} }) }));
    expect(await k.namespaceLabels('shop')).toEqual({});
    k = await kubectlWith(() => ({ stdout: '' }));
    expect(await k.namespaceLabels('nope')).toBeUndefined();
  });
});

describe('kubeconfig', () => {
  it('passes a path: the content never reaches argv, stdin, env or the log', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'helm-canary-kc-'));
    const file = path.join(dir, 'kubeconfig');
    // Distinctive pieces of the content; none of them may show up anywhere exec or the log sees.
    const secrets = ['kc-token-5f3a9e17', 'Q0EtREFUQS1TRUNSRVQ=', '10.77.3.9:6443', 'kind: Config'];
    fs.writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: prod',
        '  cluster: { server: "https://10.77.3.9:6443", certificate-authority-data: Q0EtREFUQS1TRUNSRVQ= }',
        'users:',
        '- name: ci',
        '  user: { token: kc-token-5f3a9e17 }',
        'contexts:',
        '- name: prod-ctx',
        '  context: { cluster: prod, user: ci }',
        'current-context: prod-ctx',
        '',
      ].join('\n'),
    );
    try {
      handler = (args) => (args[0] === 'version' ? { stdout: VERSION_JSON } : { stdout: '{"metadata":{}}' });
      const k = await createKubectl({ kubeconfigPath: file, context: 'prod-ctx', namespace: 'shop' });
      await k.get(VS, 'web');
      await k.list('services');
      await k.patchJson(VS, 'web', [{ op: 'replace', path: '/spec/hosts', value: ['web'] }]);
      await k.annotate(VS, 'web', { 'helm-canary.io/status': 'progressing' });
      await k.namespaceLabels('shop');

      expect(calls.map((c) => c.args[0])).toEqual(['version', 'get', 'get', 'patch', 'annotate', 'get']);
      for (const c of calls) {
        for (const a of c.args) for (const s of secrets) expect(a).not.toContain(s);
        expect(c.options.input).toBeUndefined();
        for (const v of Object.values<string>(c.options.env ?? {}))
          for (const s of secrets) expect(v).not.toContain(s);
        expect(c.options.onOutput).toBeUndefined(); // nothing echoed to the log
      }
      // Every cluster call names the file, right after --kubeconfig.
      for (const c of calls.slice(1)) {
        const i = c.args.indexOf('--kubeconfig');
        expect(c.args.slice(i, i + 2)).toEqual(['--kubeconfig', file]);
      }
      // The log holds exactly one line per call, the argv that ran, so no content either.
      expect(logged).toEqual(calls.map((c) => `[command]${displayCommand(c.tool, c.args)}`));
      for (const s of secrets) expect(logged.join('\n')).not.toContain(s);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

const LEASE = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: 'lock', namespace: 'other', resourceVersion: '7' },
  spec: { holderIdentity: 'https://github.com/o/r/actions/runs/1', leaseDurationSeconds: 60 },
};

describe('create / replace', () => {
  it('create: the object as JSON on stdin (not in the argv), our field manager, -o json', async () => {
    const k = await kubectlWith(() => ({ stdout: JSON.stringify({ ...LEASE, metadata: { name: 'lock' } }) }));
    expect(await k.create(LEASE)).toEqual({ ...LEASE, metadata: { name: 'lock' } });
    expect(calls[0].args).toEqual([
      'create',
      '-f',
      '-',
      '-n',
      'other', // the object's namespace wins over the default one
      `--field-manager=${FIELD_MANAGER}`,
      '-o',
      'json',
      ...KUBE,
    ]);
    expect(JSON.parse(calls[0].options.input)).toEqual(LEASE);
    expect(logged.join('\n')).not.toContain('holderIdentity');
  });
  it('create: the default namespace when the object has none', async () => {
    const k = await kubectlWith(() => ({ stdout: '{}' }));
    await k.create({ ...LEASE, metadata: { name: 'lock' } });
    expect(calls[0].args.slice(3, 5)).toEqual(['-n', 'shop']);
  });
  it('create: AlreadyExists → KubeAlreadyExistsError; other failures stay plain', async () => {
    let k = await kubectlWith(() => ({
      exitCode: 1,
      stderr:
        'Error from server (AlreadyExists): error when creating "STDIN": leases.coordination.k8s.io "lock" already exists',
    }));
    await expect(k.create(LEASE)).rejects.toBeInstanceOf(KubeAlreadyExistsError);
    k = await kubectlWith(() => ({
      exitCode: 1,
      stderr: 'Error from server (Forbidden): leases is forbidden',
    }));
    const e = (await k.create(LEASE).catch((x: unknown) => x)) as Error;
    expect(e.constructor).toBe(Error);
    expect(e.message).toMatch(/Forbidden/);
  });
  it('replace: PUT via kubectl replace; a stale resourceVersion → KubeConflictError; missing → KubeNotFoundError', async () => {
    let k = await kubectlWith(() => ({ stdout: JSON.stringify(LEASE) }));
    await k.replace(LEASE);
    expect(calls[0].args.slice(0, 8)).toEqual([
      'replace',
      '-f',
      '-',
      '-n',
      'other',
      `--field-manager=${FIELD_MANAGER}`,
      '-o',
      'json',
    ]);
    expect(JSON.parse(calls[0].options.input).metadata.resourceVersion).toBe('7');
    k = await kubectlWith(() => ({
      exitCode: 1,
      stderr:
        'Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on leases.coordination.k8s.io "lock": the object has been modified; please apply your changes to the latest version and try again',
    }));
    await expect(k.replace(LEASE)).rejects.toBeInstanceOf(KubeConflictError);
    k = await kubectlWith(() => ({
      exitCode: 1,
      stderr:
        'Error from server (NotFound): error when replacing "STDIN": leases.coordination.k8s.io "lock" not found',
    }));
    await expect(k.replace(LEASE)).rejects.toBeInstanceOf(KubeNotFoundError);
  });
});

describe('delete', () => {
  it('deletes by name: true when deleted, false when it was not there', async () => {
    let k = await kubectlWith(() => ({ stdout: 'lease.coordination.k8s.io "lock" deleted\n' }));
    expect(await k.delete('leases.coordination.k8s.io', 'lock')).toBe(true);
    expect(calls[0].args).toEqual(['delete', 'leases.coordination.k8s.io', 'lock', '-n', 'shop', ...KUBE]);
    expect(calls[0].options.input).toBeUndefined();
    k = await kubectlWith(() => ({
      exitCode: 1,
      stderr: 'Error from server (NotFound): leases.coordination.k8s.io "lock" not found',
    }));
    expect(await k.delete('leases.coordination.k8s.io', 'lock', 'other')).toBe(false);
    expect(calls[0].args.slice(3, 5)).toEqual(['-n', 'other']);
  });
  it('an unknown resource type is no "already gone"', async () => {
    const k = await kubectlWith(() => ({
      exitCode: 1,
      stderr: 'Error from server (NotFound): the server could not find the requested resource',
    }));
    await expect(k.delete('lease.v1.coordination.k8s.io', 'lock')).rejects.toBeInstanceOf(KubeNotFoundError);
  });
  it('with a resourceVersion: delete --raw with a precondition body; 409 → KubeConflictError', async () => {
    let k = await kubectlWith(() => ({ stdout: '{}' }));
    expect(await k.delete('leases.v1.coordination.k8s.io', 'lock', 'other', { resourceVersion: '7' })).toBe(
      true,
    );
    expect(calls[0].args).toEqual([
      'delete',
      '--raw',
      '/apis/coordination.k8s.io/v1/namespaces/other/leases/lock',
      '-f',
      '-',
      ...KUBE,
    ]);
    expect(JSON.parse(calls[0].options.input)).toEqual({
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      preconditions: { resourceVersion: '7' },
    });
    k = await kubectlWith(() => ({
      exitCode: 1,
      stderr:
        'Error from server (Conflict): Operation cannot be fulfilled on leases.coordination.k8s.io "lock": the Precondition for the delete was not met',
    }));
    await expect(
      k.delete('leases.v1.coordination.k8s.io', 'lock', 'other', { resourceVersion: '6' }),
    ).rejects.toBeInstanceOf(KubeConflictError);
  });
});

describe('objectApiPath', () => {
  it('builds group, core and escaped paths; refuses a resource without a version', () => {
    expect(objectApiPath('leases.v1.coordination.k8s.io', 'lock', 'shop')).toBe(
      '/apis/coordination.k8s.io/v1/namespaces/shop/leases/lock',
    );
    expect(objectApiPath('virtualservices.v1beta1.networking.istio.io', 'web', 'shop')).toBe(
      '/apis/networking.istio.io/v1beta1/namespaces/shop/virtualservices/web',
    );
    expect(objectApiPath('configmaps', 'a b', 'shop')).toBe('/api/v1/namespaces/shop/configmaps/a%20b');
    expect(objectApiPath('namespaces', 'shop')).toBe('/api/v1/namespaces/shop');
    expect(() => objectApiPath('leases.coordination.k8s.io', 'lock', 'shop')).toThrow(
      /plural\.version\.group/,
    );
  });
});

describe('cancellation', () => {
  it('passes the per-call signal to runTool, and none when not given', async () => {
    const k = await kubectlWith(() => ({ stdout: '{}' }));
    const ac = new AbortController();
    await k.get(VS, 'web', undefined, { signal: ac.signal });
    await k.list(VS, undefined, undefined, { signal: ac.signal });
    await k.patchJson(VS, 'web', [], undefined, { signal: ac.signal });
    await k.annotate(VS, 'web', { a: 'b' }, undefined, { signal: ac.signal });
    await k.namespaceLabels('shop', { signal: ac.signal });
    await k.create(LEASE, { signal: ac.signal });
    await k.replace(LEASE, { signal: ac.signal });
    await k.delete(VS, 'web', undefined, { signal: ac.signal });
    expect(calls).toHaveLength(8);
    for (const c of calls) expect(c.options.signal).toBe(ac.signal);
    calls = [];
    await k.get(VS, 'web');
    await k.replace(LEASE);
    await k.delete(VS, 'web');
    for (const c of calls) expect(c.options.signal).toBeUndefined();
  });
  it('an aborted run rejects with ToolAbortedError (name AbortError), not a kubectl failure', async () => {
    const k = await kubectlWith(() => ({ exitCode: 143, aborted: true }));
    const e = (await k.patchJson(VS, 'web', []).catch((x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(ToolAbortedError);
    expect(e.name).toBe('AbortError');
    expect(e.message).toMatch(/kubectl patch .* was cancelled/);
    await expect(k.delete(VS, 'web')).rejects.toBeInstanceOf(ToolAbortedError);
  });
});
