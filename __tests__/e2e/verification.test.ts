// E2E, issue 9 "verification you can trust": the bundled action against the stand-ins with the
// real helm + kubectl. A failing canary never gets user weight, a broken verification setup stops
// the run before anything changes, nothing external is cut over unverified, nothing rolls out
// unverified unless asked, the pinned route never outlives a run, verify-command gets no inputs.
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { World, CHARTS, PINNED_ROUTE, ROOT, TOOLS } from '../../standins/world.js';

let w: World;
beforeEach(async () => {
  w = await World.start();
});
afterEach(async () => {
  await w.stop();
});

const STABLE_ONLY = 'foolish-penguin-sample=100';
const base = () => ({
  chart: path.join(CHARTS, 'sample'),
  release: 'sample',
  version: 'v2',
  'virtual-service': 'exciting-lemur-vs',
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  // The canary's evidence (81 failure-free responses at 99%) must arrive within short bakes.
  'verify-rps': '100',
  precheck: '3s',
  settle: '500ms',
  drain: '1s',
});
const report = (r: { outputs: Record<string, string> }) =>
  JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8'));

/** Requests the gateway routed to `service`, through the pinned route and through any other route. */
function reached(service: string): { pinned: number; users: number } {
  let pinned = 0;
  let users = 0;
  for (const [k, n] of Object.entries(w.gateway.stats.byRoute)) {
    const [route, svc] = k.split(' ');
    if (svc !== `default/${service}`) continue;
    if (route === PINNED_ROUTE) pinned += n;
    else users += n;
  }
  return { pinned, users };
}

/** Samples the VirtualService every 5 ms while a run goes on. */
function watchVs(): () => { maxCanaryWeight: number; pinnedSeen?: unknown } {
  let maxCanaryWeight = 0;
  let pinnedSeen: unknown;
  const t = setInterval(() => {
    const m = /sample-v2=(\d+)/.exec(w.weights());
    if (m) maxCanaryWeight = Math.max(maxCanaryWeight, Number(m[1]));
    pinnedSeen ??= w.pinnedRoute();
  }, 5);
  return () => {
    clearInterval(t);
    return { maxCanaryWeight, pinnedSeen };
  };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe(`issue 9: verification you can trust (${TOOLS})`, () => {
  it('a canary answering 500 never gets user weight: the pre-traffic check rolls it back', async () => {
    await w.tutorial();
    const values = w.sampleValues('v2', 'hello world v2', {}, ['-status-code=500']);
    const stop = watchVs();
    const r = await w.runAction({ ...base(), 'values-files': values, steps: '10@30s,100@5s' });
    const seen = stop();
    expect(r.code).toBe(1);
    expect(r.outputs).toMatchObject({ status: 'rolled-back', weight: '0' });
    // The route never gave the canary any weight; the gateway sent it pinned probes only.
    expect(seen.maxCanaryWeight).toBe(0);
    expect(w.weights()).toBe(STABLE_ONLY);
    const to = reached('sample-v2');
    expect(to.pinned).toBeGreaterThanOrEqual(3);
    expect(to.users).toBe(0);
    // The pinned route existed (header x-canary: sample-v2 → sample-v2) and is gone with the canary.
    expect(seen.pinnedSeen).toMatchObject({
      name: PINNED_ROUTE,
      match: [{ headers: { 'x-canary': { exact: 'sample-v2' } } }],
      route: [{ destination: { host: 'sample-v2' }, weight: 100 }],
    });
    expect(w.pinnedRoute()).toBeUndefined();
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
    expect(r.log).toMatch(
      /::error::helm-canary rolled back: .*pre-traffic check failed, 0\/2 steps run.*The pre-traffic check failed: canary success rate 0\.0% \(0\/\d\) \(pinned probes\) is conclusively below 99%.*No user traffic reached sample-v2; sample-v2 was uninstalled/,
    );
    // No drain: it never had user traffic.
    expect(r.log).not.toMatch(/Draining/);
    const rep = report(r);
    expect(
      rep.steps.map(
        (s: { kind?: string; weight: number; verdict: string }) => `${s.kind ?? ''}${s.weight}:${s.verdict}`,
      ),
    ).toEqual(['precheck0:failed', '10:skipped', '100:skipped']);
    expect(r.summary).toMatch(/\*\*Rolled back\*\* at the pre-traffic check/);
    expect(r.summary).toMatch(/\| 0 \| pinned \(0% users\) \|/);
  });

  it('an unreachable verify-url (refused, DNS) stops the run before the install and before any write', async () => {
    await w.tutorial();
    for (const [url, cause] of [
      [
        `http://127.0.0.1:${await closedPort()}/`,
        /refused the connection \(ECONNREFUSED, 3 of 3 probes\): check its host and port/,
      ],
      [
        'http://no-such-gateway.invalid/',
        /the host of verify-url http:\/\/no-such-gateway\.invalid\/ does not resolve \((ENOTFOUND|EAI_AGAIN)/,
      ],
    ] as const) {
      w.kube.clearRequests();
      const r = await w.runAction({ ...base(), 'verify-url': url, 'verify-timeout': '2s' });
      expect(r.code).toBe(1);
      expect(r.outputs.status).toBe('failed');
      expect(r.log).toMatch(
        new RegExp(
          `::error::.*The baseline check failed before anything was installed: .*${cause.source}.*The verification setup is broken, not the canary\\. Nothing in the cluster was changed`,
        ),
      );
      expect(w.kube.writes()).toEqual([]); // not even the lock
      expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
      expect(w.weights()).toBe(STABLE_ONLY);
      expect(report(r).baseline.verdict).toBe('failed');
    }
  });

  it('verify-ca: an https gateway with a private CA fails the baseline without it (naming verify-ca), passes with it', async () => {
    await w.tutorial();
    const tls = path.join(ROOT, '__tests__', 'fixtures', 'tls');
    // A TLS front of the gateway stand-in (an ingress gateway with its own certificate, for
    // gateway.test, signed by a private CA), forwarding to the VirtualService's host.
    const gw = new URL(w.gateway.url);
    const front = https.createServer(
      {
        key: fs.readFileSync(path.join(tls, 'server-key.pem')),
        cert: fs.readFileSync(path.join(tls, 'server.pem')),
      },
      (req, res) => {
        const up = http.request(
          {
            host: gw.hostname,
            port: gw.port,
            path: req.url,
            method: req.method,
            headers: { ...req.headers, host: '127.0.0.1.xip.io' },
          },
          (u) => {
            res.writeHead(u.statusCode ?? 502, u.headers);
            u.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        req.pipe(up);
      },
    );
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(front.address() as AddressInfo).port}/`;
    try {
      w.kube.clearRequests();
      const tlsInputs = { ...base(), 'verify-url': url, 'verify-host': 'gateway.test' };
      const bad = await w.runAction(tlsInputs);
      expect(bad.outputs.status).toBe('failed');
      expect(bad.log).toMatch(
        /The baseline check failed before anything was installed: the TLS certificate of gateway\.test is not signed by a CA the runner trusts \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)[^)]*\): give the CA that signed it with verify-ca/,
      );
      expect(w.kube.writes()).toEqual([]);

      const ok = await w.runAction({
        ...tlsInputs,
        'verify-ca': path.join(tls, 'ca.pem'),
        steps: '50@2s,100@1s',
      });
      expect(ok.code).toBe(0);
      expect(ok.outputs.status).toBe('promoted');
      const rep = report(ok);
      expect(rep.baseline.verdict).toBe('passed');
      expect(
        rep.steps.every(
          (s: { total: { requests: number; bad: number } }) => s.total.requests > 0 && s.total.bad === 0,
        ),
      ).toBe(true);
      expect(reached('sample-v2').pinned).toBeGreaterThan(0); // pinned probes went through TLS too
    } finally {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
    }
  });

  it('a stable behind an external host or a ServiceEntry is never cut over: no write at all', async () => {
    // An external name.
    await w.tutorial('v1', [{ service: 'api.example.com', weight: 100 }]);
    w.kube.clearRequests();
    const ext = await w.runAction(base());
    expect(ext.code).toBe(1);
    expect(ext.outputs.status).toBe('failed');
    expect(ext.log).toMatch(
      /::error::.*sends traffic to "api\.example\.com" is not written as a Service of the cluster.*will not cut users over.*Nothing in the cluster was changed/,
    );
    expect(w.kube.writes()).toEqual([]);

    // Another namespace's name that a ServiceEntry declares.
    const file = path.join(w.dir, 'se.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'legacy' } },
          {
            apiVersion: 'networking.istio.io/v1',
            kind: 'ServiceEntry',
            metadata: { name: 'billing', namespace: 'mesh-external' },
            spec: {
              hosts: ['billing.legacy'],
              ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
              resolution: 'DNS',
            },
          },
        ],
      }),
    );
    await w.must(w.kubectl('create', 'namespace', 'mesh-external'));
    await w.must(w.kubectl('apply', '-f', file));
    await w.must(
      w.kubectl(
        'patch',
        'virtualservice',
        'exciting-lemur-vs',
        '--type=json',
        '-p',
        '[{"op":"replace","path":"/spec/http/0/route/0/destination/host","value":"billing.legacy"}]',
      ),
    );
    w.kube.clearRequests();
    const se = await w.runAction(base());
    expect(se.outputs.status).toBe('failed');
    expect(se.log).toMatch(
      /sends traffic to "billing\.legacy" is declared by ServiceEntry "mesh-external\/billing"/,
    );
    expect(w.kube.writes()).toEqual([]);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });

  it('no verification is an input error; allow-unverified: true rolls out with a warning and says "not verified"', async () => {
    await w.tutorial();
    const none = { ...base(), 'verify-url': '', steps: '50@1s,100@1s' };
    w.kube.clearRequests();
    const refused = await w.runAction(none);
    expect(refused.code).toBe(1);
    expect(refused.log).toMatch(
      /::error::Input 'verify-url': is empty and so is 'verify-command'.*allow-unverified: true/,
    );
    expect(w.kube.writes()).toEqual([]);

    const r = await w.runAction({ ...none, 'allow-unverified': 'true' });
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    expect(r.log).toMatch(/::warning::allow-unverified is true .* nothing is verified/);
    expect(r.summary).toContain('**Not verified:**');
    expect(report(r).unverified).toBe(true);
    expect(r.log).toMatch(/helm-canary promoted: .*, not verified/);
  });

  it('the pinned route exists while the run probes and is gone after promotion, rollback and cancellation', async () => {
    await w.tutorial();
    // Promotion (the old stable drained before its uninstall).
    let stop = watchVs();
    const p = await w.runAction({ ...base(), steps: '50@2s,100@1s' });
    let seen = stop();
    expect(p.outputs.status).toBe('promoted');
    expect(seen.pinnedSeen).toBeDefined();
    expect(w.pinnedRoute()).toBeUndefined();
    expect(p.log).toMatch(/Draining: waiting 1 s \(drain\) before uninstalling foolish-penguin/);
    // Users' probes and pinned ones alternated during the steps.
    expect(reached('sample-v2').pinned).toBeGreaterThan(5);
    expect(reached('sample-v2').users).toBeGreaterThan(5);

    // Rollback of a step that fails with user weight (a canary failing half its requests, with the
    // pre-traffic check off so that it gets users' traffic first).
    const v3 = w.sampleValues('v3', 'hello world v3', { 'standin.helm-canary/error-rate': '0.5' });
    stop = watchVs();
    const f = await w.runAction({
      ...base(),
      version: 'v3',
      'values-files': v3,
      precheck: '0s',
      steps: '50@30s,100@1s',
    });
    seen = stop();
    expect(f.outputs.status).toBe('rolled-back');
    expect(seen.pinnedSeen).toBeDefined();
    expect(w.pinnedRoute()).toBeUndefined();
    expect(w.weights()).toBe('sample-v2=100');
    expect(f.log).toMatch(/Draining: waiting 1 s \(drain\) before uninstalling sample-v3/);

    // Cancellation (SIGTERM) mid-bake.
    let proc: ChildProcess | undefined;
    const run = w.runAction(
      { ...base(), version: 'v4', steps: '10@60s,100@1s' },
      { onSpawn: (x) => (proc = x) },
    );
    await until(() => /sample-v4=10/.test(w.weights()), 60000);
    expect(w.pinnedRoute()).toMatchObject({ match: [{ headers: { 'x-canary': { exact: 'sample-v4' } } }] });
    proc!.kill('SIGTERM');
    const c = await run;
    expect(c.outputs.status).toBe('rolled-back');
    expect(w.pinnedRoute()).toBeUndefined();
    expect(w.weights()).toBe('sample-v2=100');
    expect(c.log).not.toMatch(/Draining/); // the runner kills a cancelled job within seconds
  });

  it('verify-command gets no INPUT_* variable nor runner token, the run’s KUBECONFIG, and its output redacted', async () => {
    await w.tutorial();
    const SECRET = 'sk-live-0f1e2d3c4b5a69788796';
    const kc = fs.readFileSync(w.kube.kubeconfigPath, 'utf8');
    // Fails unless: no INPUT_*, no runner token, and KUBECONFIG reaches this cluster.
    const command = [
      `n=$(env | grep -c '^INPUT_')`,
      `echo "inputs=$n token=\${ACTIONS_RUNTIME_TOKEN:-none} oidc=\${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-none}"`,
      `echo "printing ${SECRET}"`,
      `test "$n" -eq 0 && test -z "\${ACTIONS_RUNTIME_TOKEN:-}" && test -z "\${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}"`,
      `kubectl get virtualservice exciting-lemur-vs -o name`,
    ].join('; ');
    const r = await w.runAction(
      {
        ...base(),
        steps: '100@1s',
        'verify-command': command,
        kubeconfig: Buffer.from(kc).toString('base64'),
        set: `payments.apiKey=${SECRET}`,
      },
      {
        env: {
          KUBECONFIG: path.join(w.dir, 'does-not-exist'),
          ACTIONS_RUNTIME_TOKEN: 'runtime-token-should-not-leak',
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc-token-should-not-leak',
          ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token.example/',
        },
      },
    );
    if (r.code !== 0) console.log(r.stdout);
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    expect(r.log).toContain('inputs=0 token=none oidc=none');
    expect(r.log).toContain('virtualservice.networking.istio.io/exciting-lemur-vs');
    expect(r.log).toContain('printing ***');
    const shown = r.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::'));
    expect(shown.join('\n') + r.summary + fs.readFileSync(r.outputs['report-json'], 'utf8')).not.toContain(
      SECRET,
    );
    // the pre-traffic check never runs it: once, for the one step
    expect(r.log.match(/inputs=0/g)).toHaveLength(1);
  });

  it('measures the time from the install to the first user weight (default precheck and settle)', async () => {
    await w.tutorial();
    const inputs = { ...base(), steps: '10@2s,100@1s' };
    delete (inputs as Partial<typeof inputs>).precheck;
    delete (inputs as Partial<typeof inputs>).settle;
    let installedAt: number | undefined;
    let firstWeightAt: number | undefined;
    const t = setInterval(() => {
      const ann = w.vs()?.metadata?.annotations ?? {};
      if (
        installedAt === undefined &&
        ann['helm-canary.io/canary-release'] === 'sample-v2' &&
        ann['helm-canary.io/status'] === 'progressing'
      )
        installedAt = Date.now();
      if (firstWeightAt === undefined && /sample-v2=[1-9]/.test(w.weights())) firstWeightAt = Date.now();
    }, 5);
    const r = await w.runAction(inputs);
    clearInterval(t);
    expect(r.outputs.status).toBe('promoted');
    expect(installedAt).toBeDefined();
    expect(firstWeightAt).toBeDefined();
    const own = /First user weight ([\d.]+) s after the install/.exec(r.log)?.[1];
    expect(own).toBeDefined();
    const rep = report(r);
    expect(rep.steps[0]).toMatchObject({ kind: 'precheck', bakeMs: 30_000, verdict: 'passed' });
    console.log(
      `[measure] ${TOOLS}: install done → first user weight: ${firstWeightAt! - installedAt!} ms observed on the VirtualService ` +
        `(the action's own figure ${own} s; precheck 30s + settle 2s defaults, ${rep.steps[0].total.requests} pinned probes at ${inputs['verify-rps']} rps)`,
    );
  }, 120000);

  it('a canary failing 10% of requests is rolled back without ever exceeding the first step’s weight', async () => {
    await w.tutorial();
    // The canary-match marker is on its good pages only (error pages carry none): the pinned probes
    // are its evidence. The pre-traffic check is off so that it does get the first step's weight.
    const values = w.sampleValues('v2', 'hello world v2', {
      'standin.helm-canary/error-rate': '0.1',
      'standin.helm-canary/response-headers': 'x-version=canary',
    });
    const stop = watchVs();
    const r = await w.runAction({
      ...base(),
      'values-files': values,
      'canary-match': 'header:x-version=canary',
      precheck: '0s',
      steps: '10@60s,50@60s,100@5s',
    });
    const seen = stop();
    expect(r.outputs.status).toBe('rolled-back');
    expect(seen.maxCanaryWeight).toBe(10);
    expect(w.weights()).toBe(STABLE_ONLY);
    const rep = report(r);
    expect(rep.steps[0]).toMatchObject({ weight: 10, verdict: 'failed' });
    // "(pinned probes)": the evidence was the pinned ones alone once an unmarked error page had
    // shown up on the users' path (the attributed successes may be survivors).
    expect(rep.steps[0].reason).toMatch(
      /^canary success rate \d+\.\d% \(\d+\/\d+\) (\(pinned probes\) )?is conclusively below 99%/,
    );
    // The evidence that decided it, per version, is in the report (and rendered in the summary).
    expect(rep.steps[0].evidence.canary).toMatchObject({
      decision: 'fail',
      test: expect.stringMatching(/sequential|guard/),
    });
    expect(rep.steps[0].evidence.canary.confidence).toBeGreaterThan(0.99);
    expect(rep.steps[0].evidence.canary.pinned).toBeGreaterThan(0);
    expect(rep.steps.slice(1).map((s: { verdict: string }) => s.verdict)).toEqual(['skipped', 'skipped']);
    expect(r.summary).toMatch(/Evidence per version/);
  }, 120000);

  it('a healthy canary that starts failing every request at 10% is back to 100% stable within 2 s of its first failure', async () => {
    await w.tutorial();
    const stop = watchVs();
    let proc: ChildProcess | undefined;
    const run = w.runAction(
      { ...base(), precheck: '1s', steps: '10@60s,100@5s' },
      { onSpawn: (x) => (proc = x) },
    );
    await until(() => /sample-v2=10/.test(w.weights()), 60000);
    // Some healthy seconds at 10%, then every request fails (its 500 pages carry no version marker).
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const from = w.gateway.stats.failures.length;
    await w.must(
      w.kubectl('annotate', 'deployment', 'sample-v2', 'standin.helm-canary/error-rate=1', '--overwrite'),
    );
    let restoredAt: number | undefined;
    const t = setInterval(() => {
      if (restoredAt === undefined && w.weights() === STABLE_ONLY) restoredAt = Date.now();
    }, 5);
    const r = await run;
    clearInterval(t);
    const seen = stop();
    expect(proc).toBeDefined();
    expect(r.outputs.status).toBe('rolled-back');
    expect(seen.maxCanaryWeight).toBe(10);
    const first = w.gateway.stats.failures.slice(from).find((f) => f.backend === 'default/sample-v2');
    expect(first).toBeDefined();
    expect(restoredAt).toBeDefined();
    const ms = restoredAt! - first!.at;
    expect(ms).toBeGreaterThan(0);
    // The figure, not a timed assertion: printed for the note (the machines are shared and noisy).
    console.log(
      `[measure] ${TOOLS}: canary starts failing at 10% → 100% stable ${ms} ms after its first failed response ` +
        `(verify-rps 100, pinned share 50%; the 2 s goal is ${ms <= 2000 ? 'met' : 'MISSED'})`,
    );
    // Its 500 pages carry no marker: the pinned probes, not the users' path, are the evidence.
    expect(report(r).steps[1].reason).toMatch(
      /^canary success rate \d+\.\d% \(\d+\/\d+\) \(pinned probes\) is conclusively below 99%/,
    );
  }, 120000);
});
