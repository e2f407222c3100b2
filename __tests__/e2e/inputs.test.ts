// E2E: bad input ends the run with a clear error naming the input, and nothing in the cluster is
// written (asserted on the kube API stand-in's request log). Dry-run writes nothing either.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import path from 'node:path';
import { World, CHARTS, TOOLS } from '../../standins/world.js';

let w: World;
beforeAll(async () => {
  w = await World.start();
  await w.tutorial();
});
afterAll(async () => {
  await w.stop();
});

const good = () => ({
  chart: path.join(CHARTS, 'sample'),
  release: 'sample',
  version: 'v2',
  'virtual-service': 'exciting-lemur-vs',
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  'verify-rps': '20',
  steps: '10@1s,100@1s',
});

const SECRET = 'hunter2-S3cr3t-value';

// [what, inputs to change, expected message]
const cases: Array<[string, Record<string, string>, RegExp]> = [
  ['steps not ascending', { steps: '10,5,100' }, /Input 'steps': "10,5,100" is not strictly ascending/],
  ['step weight 0', { steps: '0,100' }, /Input 'steps'.*1-100/],
  ['last step below 100', { steps: '10,50' }, /Input 'steps'.*100/],
  ['bad interval', { interval: 'soon' }, /Input 'interval': "soon".*e\.g\. "500ms", "30s"/],
  ['bare number duration', { 'verify-timeout': '5' }, /Input 'verify-timeout': "5"/],
  ['bad release name', { release: 'Sample_App' }, /Input 'release': "Sample_App"/],
  ['release name too long', { release: 'a'.repeat(60) }, /Input 'release'.*(53|51)/],
  ['missing chart', { chart: '/nonexistent/chart' }, /Input 'chart': "\/nonexistent\/chart"/],
  ['no chart at all', { chart: '' }, /Input 'chart'.*required/i],
  [
    'unknown VirtualService',
    { 'virtual-service': 'nope' },
    /VirtualService "nope" was not found in namespace "default"/,
  ],
  [
    'unknown route',
    { route: 'nope' },
    /Input 'route': VirtualService "exciting-lemur-vs" has no http route named "nope"/,
  ],
  [
    'unknown service',
    { service: 'nope' },
    /Input 'service': the chart renders no Service "nope"; it renders: sample-v2/,
  ],
  [
    'bad regex',
    { 'verify-url': 'http://127.0.0.1:1/', 'verify-body': '([a-z' },
    /Input 'verify-body': "\(\[a-z"/,
  ],
  ['rps 0', { 'verify-url': 'http://127.0.0.1:1/', 'verify-rps': '0' }, /Input 'verify-rps': "0"/],
  ['success-rate over 100', { 'success-rate': '120' }, /Input 'success-rate': "120"/],
  ['status out of range', { 'verify-status': '200-600' }, /Input 'verify-status': "200-600"/],
  [
    'bad canary-match',
    { 'canary-match': 'cookie:x' },
    /Input 'canary-match': "cookie:x".*header:NAME=VALUE.*body:REGEX/,
  ],
  ['bad on-failure', { 'on-failure': 'explode' }, /Input 'on-failure': "explode".*rollback.*pause/],
  ['unknown command', { command: 'deploy' }, /Input 'command': "deploy" is not a command/],
  ['unknown promotion mode', { promotion: 'later' }, /Input 'promotion': "later" is not a promotion mode/],
  ['bare number lock-timeout', { 'lock-timeout': '30' }, /Input 'lock-timeout': "30"/],
  [
    'promote without release',
    { command: 'promote', release: '' },
    /Input 'release': is required for command "promote"/,
  ],
  // Issue 9:
  [
    'no verification at all',
    { 'verify-url': '' },
    /Input 'verify-url': is empty and so is 'verify-command': nothing would verify the new release/,
  ],
  ['bad precheck', { precheck: 'soon' }, /Input 'precheck': "soon" is not a duration/],
  [
    'bad canary-header',
    { 'canary-header': 'x canary' },
    /Input 'canary-header': "x canary" is not a valid header name/,
  ],
  ['bad max-bake', { 'max-bake': '0s' }, /Input 'max-bake': "0s" must be above zero/],
  [
    'bad verify-ca',
    { 'verify-ca': '-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----' },
    /Input 'verify-ca': has a certificate \(#1\) that does not parse/,
  ],
  [
    'bad allow-unverified',
    { 'verify-url': '', 'allow-unverified': 'yes' },
    /Input 'allow-unverified': "yes"/,
  ],
  ['helm-args takes the namespace', { 'helm-args': '--namespace=other' }, /Input 'helm-args'.*--namespace/],
  ['bad namespace', { namespace: 'Bad_NS' }, /Input 'namespace': "Bad_NS"/],
  ['bad verify-url', { 'verify-url': 'ftp://example.com/' }, /Input 'verify-url': "ftp:\/\/example.com\/"/],
  [
    'missing values file',
    { 'values-files': '/nonexistent/values.yaml' },
    /Input 'values-files'.*\/nonexistent\/values.yaml/,
  ],
  ['bad boolean', { cleanup: 'maybe' }, /Input 'cleanup': "maybe"/],
  ['timeout shorter than the bakes', { timeout: '1s', steps: '10@5s,100@5s' }, /Input 'timeout'/],
  [
    'timeout shorter than the bakes with the pre-traffic check',
    { timeout: '40s', steps: '10@5s,100@5s' },
    /Input 'timeout': "40s" is not longer than the total bake time of the steps with the pre-traffic check and settle times \(46s\)/,
  ],
  ['malformed secret set line', { set: `db.password ${SECRET}` }, /Input 'set'/],
];

describe(`bad input → clear error, no write (${TOOLS})`, () => {
  it.each(cases)('%s', async (_what, change, message) => {
    w.kube.clearRequests();
    const r = await w.runAction({ ...good(), ...change });
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe('failed');
    expect(r.log).toMatch(new RegExp(`::error::[^\\n]*${message.source}`, message.flags));
    expect(w.kube.writes()).toEqual([]);
    // ::add-mask:: lines are how the runner learns what to mask; it never displays them.
    const shown = (r.stdout + r.stderr).split('\n').filter((l) => !l.startsWith('::add-mask::'));
    expect(shown.join('\n') + r.summary).not.toContain(SECRET);
    expect(w.weights()).toBe('foolish-penguin-sample=100');
  });

  it('all problems are reported at once', async () => {
    w.kube.clearRequests();
    const r = await w.runAction({ ...good(), steps: '10,5', interval: 'soon', 'verify-rps': '-1' });
    expect(r.code).toBe(1);
    expect(r.log).toMatch(/Input 'steps'/);
    expect(r.log).toMatch(/Input 'interval'/);
    expect(r.log).toMatch(/Input 'verify-rps'/);
    // Not even a read of a namespaced object (the gateway stand-in's cluster-wide polls aside):
    // inputs are checked before anything else.
    expect(w.kube.requests.filter((q) => q.path.includes('/namespaces/'))).toEqual([]);
  });

  it('dry-run prints the plan and writes nothing', async () => {
    w.kube.clearRequests();
    const r = await w.runAction({ ...good(), steps: '10@1s,50@1s,100@1s', 'dry-run': 'true' });
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('unchanged');
    expect(r.log).toContain('dry-run: would set route #0 to foolish-penguin-sample:80 90%, sample-v2:80 10%');
    expect(r.log).toContain('dry-run: would set route #0 to foolish-penguin-sample:80 0%, sample-v2:80 100%');
    expect(r.log).toMatch(
      /Plan: stable foolish-penguin \(foolish-penguin-sample\) → canary sample-v2 \(sample-v2\)/,
    );
    // Issue 9: the dry run also checks the verification setup (reads only: probes of the stable).
    expect(r.log).toMatch(/Baseline passed: the current stable answered 20\/20 probes/);
    expect(w.kube.writes()).toEqual([]);
    expect((await w.helm('status', 'sample-v2')).code).not.toBe(0);
  });
});
