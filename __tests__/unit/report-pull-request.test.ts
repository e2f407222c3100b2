import { describe, it, expect } from '@jest/globals';
import {
  findPullRequestNumbers,
  type AssociatedPull,
  type PullRequestClient,
} from '../../src/report/pull-request.js';

const SHA = 'a'.repeat(40);
const repo = { owner: 'acme', repo: 'shop' };

function fakeClient(pulls: AssociatedPull[] | Error): PullRequestClient & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    calls,
    rest: {
      repos: {
        async listPullRequestsAssociatedWithCommit(params) {
          calls.push(params);
          if (pulls instanceof Error) throw pulls;
          return { data: pulls };
        },
      },
    },
  };
}

describe('findPullRequestNumbers', () => {
  it('uses the pull request of a pull_request / pull_request_target event without an API call', async () => {
    for (const eventName of ['pull_request', 'pull_request_target']) {
      const client = fakeClient([{ number: 99, state: 'open' }]);
      const ctx = { eventName, payload: { pull_request: { number: 17 } }, sha: SHA, repo };
      expect(await findPullRequestNumbers(ctx, client)).toEqual([17]);
      expect(client.calls).toHaveLength(0);
    }
  });

  it('uses the pull request of an issue_comment on a pull request (ChatOps)', async () => {
    const client = fakeClient([]);
    const payload = { issue: { number: 23, pull_request: { url: 'x' } } };
    expect(
      await findPullRequestNumbers({ eventName: 'issue_comment', payload, sha: SHA, repo }, client),
    ).toEqual([23]);
    // A comment on a plain issue is not a pull request: falls through to the commit lookup.
    const issueOnly = { issue: { number: 24 } };
    expect(
      await findPullRequestNumbers(
        { eventName: 'issue_comment', payload: issueOnly, sha: SHA, repo },
        client,
      ),
    ).toBe('none');
    expect(client.calls).toHaveLength(1);
  });

  it('push of a tag: the merged pull request whose merge commit is the tagged sha', async () => {
    const client = fakeClient([
      { number: 5, state: 'open', merge_commit_sha: SHA }, // test-merge sha of an open PR: not preferred
      { number: 3, state: 'closed', merged_at: '2025-01-01T00:00:00Z', merge_commit_sha: 'b'.repeat(40) },
      { number: 4, state: 'closed', merged_at: '2025-01-02T00:00:00Z', merge_commit_sha: SHA },
    ]);
    const ctx = { eventName: 'push', payload: { ref: 'refs/tags/v1.5.0' }, sha: SHA, repo };
    expect(await findPullRequestNumbers(ctx, client)).toEqual([4]);
    expect(client.calls).toEqual([{ owner: 'acme', repo: 'shop', commit_sha: SHA, per_page: 100 }]);
  });

  it('push: an open pull request when no merged one matches, then any merged one', async () => {
    const ctx = { eventName: 'push', payload: {}, sha: SHA, repo };
    const open = fakeClient([
      { number: 3, state: 'closed', merged_at: '2025-01-01T00:00:00Z', merge_commit_sha: 'b'.repeat(40) },
      { number: 8, state: 'open', merge_commit_sha: 'c'.repeat(40) },
    ]);
    expect(await findPullRequestNumbers(ctx, open)).toEqual([8]);
    const mergedOnly = fakeClient([
      { number: 2, state: 'closed', merged_at: null },
      { number: 3, state: 'closed', merged_at: '2025-01-01T00:00:00Z', merge_commit_sha: 'b'.repeat(40) },
    ]);
    expect(await findPullRequestNumbers(ctx, mergedOnly)).toEqual([3]);
    expect(
      await findPullRequestNumbers(ctx, fakeClient([{ number: 2, state: 'closed', merged_at: null }])),
    ).toBe('none');
    expect(await findPullRequestNumbers(ctx, fakeClient([]))).toBe('none');
  });

  it('workflow_dispatch with pr-number: that number, no API call', async () => {
    const client = fakeClient([{ number: 99, state: 'open' }]);
    const ctx = { eventName: 'workflow_dispatch', payload: { inputs: {} }, sha: SHA, repo };
    expect(await findPullRequestNumbers(ctx, client, 42)).toEqual([42]);
    expect(client.calls).toHaveLength(0);
  });

  it('workflow_dispatch without pr-number: the commit lookup', async () => {
    const ctx = { eventName: 'workflow_dispatch', payload: { inputs: {} }, sha: SHA, repo };
    expect(await findPullRequestNumbers(ctx, fakeClient([{ number: 12, state: 'open' }]))).toEqual([12]);
    expect(await findPullRequestNumbers(ctx, fakeClient([]))).toBe('none');
    // Invalid explicit numbers are ignored.
    expect(await findPullRequestNumbers(ctx, fakeClient([]), 0)).toBe('none');
  });

  it('lets API errors through for the caller to log', async () => {
    const err = Object.assign(new Error('Resource not accessible by integration'), { status: 403 });
    const ctx = { eventName: 'push', payload: {}, sha: SHA, repo };
    await expect(findPullRequestNumbers(ctx, fakeClient(err))).rejects.toThrow('Resource not accessible');
  });
});
