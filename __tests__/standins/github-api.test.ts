import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { getOctokit } from '@actions/github';
import { GitHubApiServer } from '../../standins/github-api/index.js';

const HEAD = 'a'.repeat(40);
const MERGE = 'b'.repeat(40);

async function caught(p: Promise<unknown>): Promise<{ name?: string; status?: number; message?: string }> {
  try {
    await p;
  } catch (e) {
    return e as { name?: string; status?: number; message?: string };
  }
  throw new Error('expected the call to throw');
}

describe('GitHub API stand-in (driven by the real Octokit from @actions/github)', () => {
  let gh: GitHubApiServer;
  let octokit: ReturnType<typeof getOctokit>;
  const repo = { owner: 'acme', repo: 'shop' };

  beforeEach(async () => {
    gh = await GitHubApiServer.start();
    gh.addPullRequest('acme', 'shop', {
      number: 7,
      head_sha: HEAD,
      merge_commit_sha: MERGE,
      title: 'Add cart',
    });
    gh.addPullRequest('acme', 'shop', { number: 3, head_sha: 'c'.repeat(40), state: 'closed', merged: true });
    octokit = getOctokit('ghs_test_token', { baseUrl: gh.url });
  });
  afterEach(async () => {
    await gh.stop();
  });

  it('lists the pull requests of a commit (head or merge commit sha)', async () => {
    const byHead = await octokit.rest.repos.listPullRequestsAssociatedWithCommit({
      ...repo,
      commit_sha: HEAD,
    });
    expect(byHead.status).toBe(200);
    expect(byHead.data.map((p) => p.number)).toEqual([7]);
    expect(byHead.data[0].head.sha).toBe(HEAD);
    expect(byHead.data[0].state).toBe('open');
    const byMerge = await octokit.rest.repos.listPullRequestsAssociatedWithCommit({
      ...repo,
      commit_sha: MERGE,
    });
    expect(byMerge.data.map((p) => p.number)).toEqual([7]);
    const none = await octokit.rest.repos.listPullRequestsAssociatedWithCommit({
      ...repo,
      commit_sha: 'f'.repeat(40),
    });
    expect(none.data).toEqual([]);
  });

  it('gets one pull request with merged/state', async () => {
    const pr = await octokit.rest.pulls.get({ ...repo, pull_number: 3 });
    expect(pr.data).toMatchObject({ number: 3, state: 'closed', merged: true });
    const open = await octokit.rest.pulls.get({ ...repo, pull_number: 7 });
    expect(open.data).toMatchObject({ number: 7, state: 'open', merged: false, title: 'Add cart' });
    const err = await caught(octokit.rest.pulls.get({ ...repo, pull_number: 99 }));
    expect(err.status).toBe(404);
    expect(err.message).toMatch(/Not Found/);
  });

  it('creates, reads, updates and deletes comments as github-actions[bot]', async () => {
    const created = await octokit.rest.issues.createComment({ ...repo, issue_number: 7, body: 'hello' });
    expect(created.status).toBe(201);
    expect(created.data.user?.login).toBe('github-actions[bot]');
    const id = created.data.id;
    expect(gh.comments('acme', 'shop', 7)).toEqual([
      { id, body: 'hello', user: expect.objectContaining({ login: 'github-actions[bot]' }) },
    ]);

    const got = await octokit.rest.issues.getComment({ ...repo, comment_id: id });
    expect(got.data.body).toBe('hello');

    const updated = await octokit.rest.issues.updateComment({ ...repo, comment_id: id, body: 'updated' });
    expect(updated.data.body).toBe('updated');
    expect(gh.comments('acme', 'shop', 7)[0].body).toBe('updated');

    const listed = await octokit.rest.issues.listComments({ ...repo, issue_number: 7 });
    expect(listed.data.map((c) => c.body)).toEqual(['updated']);

    const deleted = await octokit.rest.issues.deleteComment({ ...repo, comment_id: id });
    expect(deleted.status).toBe(204);
    expect(gh.comments('acme', 'shop', 7)).toEqual([]);
    expect((await caught(octokit.rest.issues.getComment({ ...repo, comment_id: id }))).status).toBe(404);
  });

  it('pages comments with per_page/page and a Link header that octokit.paginate follows', async () => {
    const other = gh.addComment('acme', 'shop', 7, 'from a human', 'alice');
    for (let i = 0; i < 6; i++)
      await octokit.rest.issues.createComment({ ...repo, issue_number: 7, body: `c${i}` });
    const page2 = await octokit.rest.issues.listComments({ ...repo, issue_number: 7, per_page: 3, page: 2 });
    expect(page2.data.map((c) => c.body)).toEqual(['c2', 'c3', 'c4']);
    expect(page2.headers.link).toMatch(/rel="next"/);
    expect(page2.headers.link).toMatch(/rel="prev"/);
    const all = await octokit.paginate(octokit.rest.issues.listComments, {
      ...repo,
      issue_number: 7,
      per_page: 2,
    });
    expect(all.map((c) => c.body)).toEqual(['from a human', 'c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
    expect(all[0]).toMatchObject({ id: other, user: { login: 'alice' } });
    // Comments are per issue.
    expect(gh.comments('acme', 'shop', 3)).toEqual([]);
  });

  it('records every request with method, path, body, time and auth', async () => {
    const t0 = Date.now();
    await octokit.rest.issues.createComment({ ...repo, issue_number: 7, body: 'x' });
    await octokit.rest.issues.listComments({ ...repo, issue_number: 7, per_page: 50 });
    expect(gh.requests).toHaveLength(2);
    expect(gh.requests[0]).toMatchObject({
      method: 'POST',
      path: '/repos/acme/shop/issues/7/comments',
      body: { body: 'x' },
      auth: 'token ghs_test_token',
    });
    expect(gh.requests[0].at).toBeGreaterThanOrEqual(t0);
    expect(gh.requests[1]).toMatchObject({
      method: 'GET',
      path: '/repos/acme/shop/issues/7/comments',
      query: { per_page: '50' },
    });
  });

  it('forbidCommentWrites(): writes fail with 403 "Resource not accessible by integration"', async () => {
    const id = (await octokit.rest.issues.createComment({ ...repo, issue_number: 7, body: 'before' })).data
      .id;
    gh.forbidCommentWrites();
    const err = await caught(octokit.rest.issues.createComment({ ...repo, issue_number: 7, body: 'nope' }));
    expect(err.name).toBe('HttpError'); // Octokit's RequestError
    expect(err.status).toBe(403);
    expect(err.message).toMatch(/Resource not accessible by integration/);
    expect(
      (await caught(octokit.rest.issues.updateComment({ ...repo, comment_id: id, body: 'x' }))).status,
    ).toBe(403);
    expect((await caught(octokit.rest.issues.deleteComment({ ...repo, comment_id: id }))).status).toBe(403);
    // Reads still work and nothing changed.
    const listed = await octokit.rest.issues.listComments({ ...repo, issue_number: 7 });
    expect(listed.data.map((c) => c.body)).toEqual(['before']);

    gh.forbidCommentWrites(404);
    expect(
      (await caught(octokit.rest.issues.createComment({ ...repo, issue_number: 7, body: 'nope' }))).status,
    ).toBe(404);
    gh.allowCommentWrites();
    expect((await octokit.rest.issues.createComment({ ...repo, issue_number: 7, body: 'ok' })).status).toBe(
      201,
    );
  });

  it('answers 404 JSON for unknown repos, issues and endpoints; 422 for a missing body', async () => {
    const res = await fetch(`${gh.url}/repos/acme/shop/releases`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ message: 'Not Found', documentation_url: expect.any(String) });
    expect(
      (await caught(octokit.rest.issues.listComments({ owner: 'acme', repo: 'nope', issue_number: 7 })))
        .status,
    ).toBe(404);
    expect(
      (await caught(octokit.rest.issues.createComment({ ...repo, issue_number: 12345, body: 'x' }))).status,
    ).toBe(404);
    const bad = await fetch(`${gh.url}/repos/acme/shop/issues/7/comments`, {
      method: 'POST',
      headers: { authorization: 'token t', 'content-type': 'application/json' },
      body: JSON.stringify({}),
    });
    expect(bad.status).toBe(422);
    const anon = await fetch(`${gh.url}/repos/acme/shop/issues/7/comments`, {
      method: 'POST',
      body: '{"body":"x"}',
    });
    expect(anon.status).toBe(401);
  });
});
