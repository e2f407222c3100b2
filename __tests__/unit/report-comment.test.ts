import { describe, it, expect } from '@jest/globals';
import * as github from '@actions/github';
import {
  CommentPublisher,
  createCommentPublisher,
  permissionWarning,
  type CommentClient,
} from '../../src/report/comment-helper.js';
import type { PullRequestClient } from '../../src/report/pull-request.js';

const MARKER = '<!-- helm-canary:prod/shop -->';
const repo = { owner: 'acme', repo: 'shop' };

// Compile-time check: the real Octokit satisfies the minimal client types.
export const _octokitFits: (t: string) => CommentClient & PullRequestClient = (t) => github.getOctokit(t);
export const _contextFits: Parameters<typeof createCommentPublisher>[1] = github.context;

type Op = 'list' | 'create' | 'update';

/** An in-memory issue-comments API; `failWith[op]` makes that call throw an HTTP error. */
class FakeGitHub implements CommentClient {
  comments: Array<{ id: number; body: string; issue: number }> = [];
  calls: Array<{ op: Op; params: Record<string, unknown> }> = [];
  failWith: Partial<Record<Op, { status: number; message?: string; times?: number }>> = {};
  private nextId = 1000;

  constructor(existing: Array<{ body: string; issue?: number }> = []) {
    for (const c of existing) this.comments.push({ id: this.nextId++, body: c.body, issue: c.issue ?? 7 });
  }

  private maybeFail(op: Op): void {
    const f = this.failWith[op];
    if (!f) return;
    if (f.times !== undefined && --f.times <= 0) delete this.failWith[op];
    throw Object.assign(new Error(f.message ?? `HttpError ${f.status}`), {
      status: f.status,
      response: { headers: {} },
    });
  }

  count(op: Op): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  rest = {
    issues: {
      listComments: async (p: { issue_number: number; per_page?: number; page?: number }) => {
        this.calls.push({ op: 'list', params: p });
        this.maybeFail('list');
        const all = this.comments.filter((c) => c.issue === p.issue_number);
        const per = p.per_page ?? 30;
        const page = p.page ?? 1;
        return { data: all.slice((page - 1) * per, page * per).map((c) => ({ id: c.id, body: c.body })) };
      },
      createComment: async (p: { issue_number: number; body: string }) => {
        this.calls.push({ op: 'create', params: p });
        this.maybeFail('create');
        const c = { id: this.nextId++, body: p.body, issue: p.issue_number };
        this.comments.push(c);
        return { data: { id: c.id } };
      },
      updateComment: async (p: { comment_id: number; body: string }) => {
        this.calls.push({ op: 'update', params: p });
        this.maybeFail('update');
        const c = this.comments.find((x) => x.id === p.comment_id);
        if (!c) throw Object.assign(new Error('Not Found'), { status: 404 });
        c.body = p.body;
        return { data: { id: c.id } };
      },
    },
  };
}

function logger() {
  const infos: string[] = [];
  const warnings: string[] = [];
  return {
    infos,
    warnings,
    info: (m: string) => void infos.push(m),
    warning: (m: string) => void warnings.push(m),
  };
}

/** A manual clock so throttling is deterministic. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

function publisher(gh: FakeGitHub, log = logger(), c = clock(), minIntervalMs = 2000) {
  return new CommentPublisher({
    client: gh,
    repo,
    issueNumber: 7,
    marker: MARKER,
    logger: log,
    minIntervalMs,
    now: c.now,
  });
}

const mine = (gh: FakeGitHub) => gh.comments.filter((c) => c.body.startsWith(MARKER));

describe('CommentPublisher', () => {
  it('creates the comment once, then updates it (never a duplicate)', async () => {
    const gh = new FakeGitHub([{ body: 'LGTM' }]);
    const log = logger();
    const c = clock();
    const p = publisher(gh, log, c);
    await p.publish('step 1');
    c.advance(2500);
    await p.publish('step 2');
    c.advance(2500);
    await p.publish('done', true);
    expect(mine(gh)).toHaveLength(1);
    expect(mine(gh)[0].body).toBe(`${MARKER}\ndone`);
    expect(gh.count('create')).toBe(1);
    expect(gh.count('update')).toBe(2);
    expect(gh.count('list')).toBe(1); // the id is cached after the first create
    expect(gh.comments.find((x) => x.body === 'LGTM')).toBeDefined();
    expect(log.warnings).toEqual([]);
  });

  it('finds the existing marker comment on a rerun, across pages, and updates it', async () => {
    const older = Array.from({ length: 150 }, (_, i) => ({ body: `comment ${i}` }));
    const gh = new FakeGitHub([
      ...older,
      { body: `> ${MARKER}\n> quoted by a human` }, // a quote is not ours
      { body: `${MARKER}\nprevious run` },
      { body: '<!-- helm-canary:prod/other -->\nanother app' },
    ]);
    const p = publisher(gh);
    await p.publish(`${MARKER}\nrerun`, true);
    expect(gh.count('create')).toBe(0);
    expect(gh.count('list')).toBe(2);
    expect(gh.calls.filter((x) => x.op === 'list').map((x) => x.params.page)).toEqual([1, 2]);
    expect(mine(gh)).toHaveLength(1);
    expect(mine(gh)[0].body).toBe(`${MARKER}\nrerun`);
    expect(gh.comments.find((x) => x.body.includes('another app'))).toBeDefined();
  });

  it('a second publisher (rerun) reuses the comment the first one created', async () => {
    const gh = new FakeGitHub();
    await publisher(gh).publish('run 1', true);
    await publisher(gh).publish('run 2', true);
    expect(mine(gh)).toHaveLength(1);
    expect(mine(gh)[0].body).toBe(`${MARKER}\nrun 2`);
  });

  it('replaces a different helm-canary marker with its own', async () => {
    const gh = new FakeGitHub();
    await publisher(gh).publish('<!-- helm-canary:prod/shop-v2 -->\nbody', true);
    expect(gh.comments[0].body).toBe(`${MARKER}\nbody`);
  });

  it('concurrent calls never create two comments', async () => {
    const gh = new FakeGitHub();
    const p = publisher(gh);
    await Promise.all([p.publish('a', true), p.publish('b', true), p.publish('c', true)]);
    expect(mine(gh)).toHaveLength(1);
    expect(gh.count('create')).toBe(1);
    expect(mine(gh)[0].body).toBe(`${MARKER}\nc`);
  });

  it('403 on create: one warning naming the permission, no throw, later calls are no-ops', async () => {
    const gh = new FakeGitHub();
    gh.failWith.create = { status: 403, message: 'Resource not accessible by integration' };
    const log = logger();
    const c = clock();
    const p = publisher(gh, log, c);
    await expect(p.publish('one')).resolves.toBeUndefined();
    c.advance(5000);
    await p.publish('two');
    await p.publish('three', true);
    await p.flush();
    expect(log.warnings).toEqual([permissionWarning(403, 'write')]);
    expect(log.warnings[0]).toContain('"pull-requests: write"');
    expect(log.warnings[0]).toContain('forked pull requests get a read-only token');
    expect(log.warnings[0]).toContain('The rollout is not affected.');
    expect(gh.calls).toHaveLength(2); // one list + one create, nothing after
    expect(p.enabled).toBe(false);
  });

  it('404 on list: one warning and disabled', async () => {
    const gh = new FakeGitHub();
    gh.failWith.list = { status: 404 };
    const log = logger();
    const p = publisher(gh, log);
    await p.publish('x', true);
    await p.publish('y', true);
    expect(log.warnings).toEqual([permissionWarning(404, 'read')]);
    expect(gh.calls).toHaveLength(1);
  });

  it('403 on update of a found comment is a permission problem too', async () => {
    const gh = new FakeGitHub([{ body: `${MARKER}\nold` }]);
    gh.failWith.update = { status: 403 };
    const log = logger();
    await publisher(gh, log).publish('new', true);
    expect(log.warnings).toEqual([permissionWarning(403, 'write')]);
  });

  it('re-creates the comment when it was deleted in between (404 on update)', async () => {
    const gh = new FakeGitHub();
    const log = logger();
    const p = publisher(gh, log);
    await p.publish('one', true);
    gh.comments = [];
    await p.publish('two', true);
    expect(mine(gh)).toHaveLength(1);
    expect(mine(gh)[0].body).toBe(`${MARKER}\ntwo`);
    expect(log.warnings).toEqual([]);
  });

  it('other errors (500, rate limit 403): a warning, no throw, retried on the next publish', async () => {
    const gh = new FakeGitHub();
    gh.failWith.create = { status: 500, message: 'Server Error', times: 2 };
    const log = logger();
    const c = clock();
    const p = publisher(gh, log, c);
    await p.publish('one');
    c.advance(3000);
    await p.publish('two'); // same error again: not warned twice
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toContain('(HTTP 500): Server Error');
    c.advance(3000);
    await p.publish('three', true);
    expect(mine(gh).map((x) => x.body)).toEqual([`${MARKER}\nthree`]);

    const gh2 = new FakeGitHub();
    gh2.failWith.create = { status: 403, message: 'You have exceeded a secondary rate limit', times: 1 };
    const log2 = logger();
    const p2 = publisher(gh2, log2);
    await p2.publish('a', true);
    await p2.publish('b', true);
    expect(p2.enabled).toBe(true);
    expect(mine(gh2).map((x) => x.body)).toEqual([`${MARKER}\nb`]);
    expect(log2.warnings).toHaveLength(1);
  });

  it('throttles to one write per interval and flushes the latest body on final', async () => {
    const gh = new FakeGitHub();
    const c = clock();
    const p = publisher(gh, logger(), c, 2000);
    await p.publish('1');
    c.advance(500);
    await p.publish('2');
    c.advance(500);
    await p.publish('3');
    expect(gh.count('create') + gh.count('update')).toBe(1);
    expect(mine(gh)[0].body).toBe(`${MARKER}\n1`);
    await p.publish('4', true);
    expect(gh.count('create') + gh.count('update')).toBe(2);
    expect(mine(gh)[0].body).toBe(`${MARKER}\n4`);
    // After the interval a non-final body goes out at once.
    c.advance(2000);
    await p.publish('5');
    expect(mine(gh)[0].body).toBe(`${MARKER}\n5`);
    // An identical body is not written again.
    c.advance(2000);
    await p.publish('5');
    expect(gh.count('update')).toBe(2);
  });

  it('writes a pending body once the interval has passed, without a further call', async () => {
    const gh = new FakeGitHub();
    const p = publisher(gh, logger(), { now: Date.now, advance: () => {} }, 40);
    await p.publish('first');
    await p.publish('second');
    await p.publish('third');
    expect(mine(gh)[0].body).toBe(`${MARKER}\nfirst`);
    await new Promise((r) => setTimeout(r, 120));
    await p.flush();
    expect(mine(gh)[0].body).toBe(`${MARKER}\nthird`);
    expect(gh.count('create') + gh.count('update')).toBe(2);
  });

  it('flush() writes the pending body now', async () => {
    const gh = new FakeGitHub();
    const c = clock();
    const p = publisher(gh, logger(), c);
    await p.publish('a');
    await p.publish('b');
    await p.flush();
    expect(mine(gh)[0].body).toBe(`${MARKER}\nb`);
  });
});

describe('createCommentPublisher', () => {
  const SHA = 'f'.repeat(40);
  const settings = { githubToken: 'ghs_token', comment: true, namespace: 'prod', release: 'shop' };

  function fakeOctokit(pulls: Array<{ number: number; state: string }>) {
    const gh = new FakeGitHub() as FakeGitHub & PullRequestClient;
    (gh.rest as unknown as PullRequestClient['rest']).repos = {
      listPullRequestsAssociatedWithCommit: async () => ({ data: pulls }),
    };
    return gh;
  }

  it('returns a publisher for the pull request of the event', async () => {
    const gh = fakeOctokit([]);
    const tokens: string[] = [];
    const log = logger();
    const p = await createCommentPublisher(
      settings,
      { eventName: 'pull_request', payload: { pull_request: { number: 7 } }, sha: SHA, repo },
      log,
      { getOctokit: (t) => (tokens.push(t), gh) },
    );
    expect(p).toBeInstanceOf(CommentPublisher);
    expect(p!.issueNumber).toBe(7);
    expect(p!.marker).toBe(MARKER);
    expect(tokens).toEqual(['ghs_token']);
    await p!.publish('hello', true);
    expect(mine(gh)).toHaveLength(1);
  });

  it('returns undefined with one log line when no pull request is found', async () => {
    const log = logger();
    const p = await createCommentPublisher(
      settings,
      { eventName: 'push', payload: {}, sha: SHA, repo },
      log,
      { getOctokit: () => fakeOctokit([]) },
    );
    expect(p).toBeUndefined();
    expect(log.infos).toEqual([`No pull request found for ${SHA}; skipping the comment.`]);
    expect(log.warnings).toEqual([]);
  });

  it('returns undefined without API calls when comment=false or there is no token', async () => {
    let made = 0;
    const deps = { getOctokit: () => (made++, fakeOctokit([{ number: 1, state: 'open' }])) };
    const ctx = { eventName: 'push', payload: {}, sha: SHA, repo };
    expect(
      await createCommentPublisher({ ...settings, comment: false }, ctx, logger(), deps),
    ).toBeUndefined();
    expect(
      await createCommentPublisher({ ...settings, githubToken: undefined }, ctx, logger(), deps),
    ).toBeUndefined();
    expect(made).toBe(0);
  });

  it('uses pr-number on workflow_dispatch', async () => {
    const p = await createCommentPublisher(
      { ...settings, prNumber: 31 },
      { eventName: 'workflow_dispatch', payload: {}, sha: SHA, repo },
      logger(),
      { getOctokit: () => fakeOctokit([]) },
    );
    expect(p!.issueNumber).toBe(31);
  });

  it('never throws: a failing lookup or a missing repository is a warning', async () => {
    const log = logger();
    const gh = fakeOctokit([]);
    gh.rest.repos.listPullRequestsAssociatedWithCommit = async () => {
      throw Object.assign(new Error('Resource not accessible by integration'), { status: 403 });
    };
    const ctx = { eventName: 'push', payload: {}, sha: SHA, repo };
    expect(await createCommentPublisher(settings, ctx, log, { getOctokit: () => gh })).toBeUndefined();
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toContain('(HTTP 403)');

    const badCtx = {
      eventName: 'push',
      payload: {},
      sha: SHA,
      get repo(): { owner: string; repo: string } {
        throw new Error('context.repo requires a GITHUB_REPOSITORY environment variable');
      },
    };
    expect(
      await createCommentPublisher(settings, badCtx, logger(), { getOctokit: () => gh }),
    ).toBeUndefined();
  });
});
