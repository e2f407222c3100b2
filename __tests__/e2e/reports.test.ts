// E2E: job summary and the one pull-request comment, through the real Octokit (@actions/github)
// against the GitHub API stand-in via GITHUB_API_URL.
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { World, CHARTS, TOOLS } from '../../standins/world.js';

let w: World;
beforeEach(async () => {
  w = await World.start();
  await w.tutorial();
});
afterEach(async () => {
  await w.stop();
});

const SHA = 'feedc0de00000000000000000000000000000001';
const SECRET = 'sk-live-9f8e7d6c5b4a39281706';
const base = () => ({
  chart: path.join(CHARTS, 'sample'),
  release: 'sample',
  'virtual-service': 'exciting-lemur-vs',
  'verify-url': `${w.gateway.url}/`,
  'verify-host': '127.0.0.1.xip.io',
  // The canary's evidence (81 failure-free responses at 99%) must arrive within short bakes.
  'verify-rps': '100',
  set: `payments.apiKey=${SECRET}`,
  // Short waits (defaults 30s / 2s / 10s).
  precheck: '1s',
  settle: '500ms',
  drain: '1s',
});
const comments = (n: number) => w.github.comments('acme', 'shop', n);
const commentWrites = () =>
  w.github.requests.filter(
    (q) => /\/issues\/(\d+\/comments|comments\/\d+)$/.test(q.path) && q.method !== 'GET',
  );
/** Everything a person could see: log lines (not the runner's mask commands), summary, comment, JSON. */
const visible = (r: { stdout: string; stderr: string; summary: string; outputs: Record<string, string> }) =>
  [
    r.stdout
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n'),
    r.stderr,
    r.summary,
    JSON.stringify(r.outputs),
    r.outputs['report-json'] ? fs.readFileSync(r.outputs['report-json'], 'utf8') : '',
    ...w.github.requests.map((q) => JSON.stringify(q.body ?? '')),
  ].join('\n');

describe(`reports (${TOOLS})`, () => {
  it('pull_request: one comment created, updated live, final state; a rerun updates it; secrets never shown', async () => {
    w.github.addPullRequest('acme', 'shop', { number: 7, head_sha: SHA });
    const event = { pull_request: { number: 7, head: { sha: SHA } }, number: 7 };
    const r = await w.runAction(
      {
        ...base(),
        version: 'v2',
        steps: '10@3s,50@3s,100@3s',
        'verify-url': `${w.gateway.url}/`,
        'canary-match': 'body:v2',
        'values-files': w.sampleValues('v2', 'hello world v2'),
      },
      { eventName: 'pull_request', payload: event, sha: SHA, ref: 'refs/pull/7/merge' },
    );
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    const cs = comments(7);
    expect(cs).toHaveLength(1);
    expect(cs[0].body.startsWith('<!-- helm-canary:default/sample -->')).toBe(true);
    expect(cs[0].body).toContain('Canary promoted');
    expect(cs[0].body).toMatch(/\| 0 \| pinned \(0% users\) \|/); // the pre-traffic check
    expect(cs[0].body).toMatch(/\| 1 \| 10% \|/);
    expect(cs[0].body).toMatch(/\| 3 \| 100% \|/);
    const writes = commentWrites();
    expect(writes.filter((q) => q.method === 'POST')).toHaveLength(1);
    expect(writes.filter((q) => q.method === 'PATCH').length).toBeGreaterThanOrEqual(2);
    // Reviewers saw progress before the end.
    expect(writes.some((q) => /in progress/i.test(JSON.stringify(q.body)))).toBe(true);
    // The job summary and the `summary` output hold the same report, with a Mermaid chart.
    expect(r.summary).toContain('Canary promoted');
    expect(r.summary).toMatch(/```mermaid\n[\s\S]*xychart-beta[\s\S]*```/);
    expect(r.outputs.summary).toContain('| 2 | 50% |');
    expect(visible(r)).not.toContain(SECRET);

    // A rerun of the same workflow (same version: nothing to do) updates the same comment.
    const again = await w.runAction(
      { ...base(), version: 'v2', steps: '100@1s' },
      { eventName: 'pull_request', payload: event, sha: SHA },
    );
    expect(again.outputs.status).toBe('unchanged');
    expect(comments(7)).toHaveLength(1);
    expect(commentWrites().filter((q) => q.method === 'POST')).toHaveLength(1);
    expect(comments(7)[0].body).toContain('No change');
  });

  it('tag push: comments on the merged pull request that brought the commit', async () => {
    w.github.addPullRequest('acme', 'shop', { number: 8, head_sha: 'aaaa', state: 'open' });
    w.github.addPullRequest('acme', 'shop', {
      number: 9,
      head_sha: 'bbbb',
      merge_commit_sha: SHA,
      state: 'closed',
      merged: true,
    });
    const r = await w.runAction(
      { ...base(), steps: '50@1s,100@1s' },
      {
        eventName: 'push',
        payload: { ref: 'refs/tags/v2.0.0' },
        sha: SHA,
        ref: 'refs/tags/v2.0.0',
        env: { GITHUB_REF_TYPE: 'tag', GITHUB_REF_NAME: 'v2.0.0' },
      },
    );
    expect(r.code).toBe(0);
    expect(r.outputs['canary-release']).toBe('sample-v2-0-0');
    expect(comments(9)).toHaveLength(1);
    expect(comments(9)[0].body).toContain('Canary promoted');
    expect(comments(8)).toHaveLength(0);
    expect(visible(r)).not.toContain(SECRET);
  });

  it('workflow_dispatch with pr-number comments there', async () => {
    w.github.addPullRequest('acme', 'shop', { number: 11, head_sha: 'cccc' });
    const r = await w.runAction(
      { ...base(), version: 'v5', steps: '100@1s', 'pr-number': '11' },
      { eventName: 'workflow_dispatch', sha: SHA },
    );
    expect(r.code).toBe(0);
    expect(comments(11)).toHaveLength(1);
  });

  it('403 on comment writes: a warning that names the permission, and the rollout still succeeds', async () => {
    w.github.addPullRequest('acme', 'shop', { number: 7, head_sha: SHA });
    w.github.forbidCommentWrites(403);
    const r = await w.runAction(
      { ...base(), version: 'v2', steps: '50@2s,100@2s' },
      { eventName: 'pull_request', payload: { pull_request: { number: 7 } }, sha: SHA },
    );
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe('promoted');
    const warnings = r.log
      .split('\n')
      .filter((l) => l.startsWith('::warning::') && /pull-requests: write/.test(l));
    expect(warnings).toHaveLength(1);
    expect(comments(7)).toHaveLength(0);
  });

  it('no pull request found: one log line, no comment', async () => {
    w.github.addPullRequest('acme', 'shop', { number: 3, head_sha: 'dddd' });
    const r = await w.runAction(
      { ...base(), version: 'v2', steps: '100@1s' },
      { eventName: 'workflow_dispatch', sha: SHA },
    );
    expect(r.code).toBe(0);
    expect(r.log).toContain(`No pull request found for ${SHA}; skipping the comment.`);
    expect(commentWrites()).toEqual([]);
    // The job summary is still written.
    expect(r.summary).toContain('Canary promoted');
  });

  it('a rolled-back run writes its summary and final comment too', async () => {
    w.github.addPullRequest('acme', 'shop', { number: 7, head_sha: SHA });
    const r = await w.runAction(
      {
        ...base(),
        version: 'v2',
        steps: '50@30s,100@5s',
        'verify-url': `${w.gateway.url}/`,
        'canary-match': 'body:v2',
        'values-files': w.sampleValues('v2', 'hello world v2', {}, ['-status-code=503']),
      },
      { eventName: 'pull_request', payload: { pull_request: { number: 7 } }, sha: SHA },
    );
    expect(r.outputs.status).toBe('rolled-back');
    expect(r.summary).toContain('Rolled back');
    expect(comments(7)[0].body).toContain('Rolled back');
    expect(comments(7)[0].body).toMatch(/canary success rate 0\.0%/);
    console.log(`[summary] rolled-back run, ${TOOLS}:\n${r.summary}`);
  });
});
