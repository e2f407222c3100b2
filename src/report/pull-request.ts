// Which pull request a run belongs to, for the PR comment. Pure apart from one API call.

/** The parts of @actions/github's `context` this needs. */
export interface PullRequestContext {
  eventName: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  payload: any;
  sha: string;
  repo: { owner: string; repo: string };
}

export interface AssociatedPull {
  number: number;
  state?: string;
  merged_at?: string | null;
  merge_commit_sha?: string | null;
}

/** The slice of an Octokit client this needs (`github.getOctokit(token)` satisfies it). */
export interface PullRequestClient {
  rest: {
    repos: {
      listPullRequestsAssociatedWithCommit(params: {
        owner: string;
        repo: string;
        commit_sha: string;
        per_page?: number;
      }): Promise<{ data: AssociatedPull[] }>;
    };
  };
}

const PR_EVENTS = new Set([
  'pull_request',
  'pull_request_target',
  'pull_request_review',
  'pull_request_review_comment',
]);

function validNumber(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The pull request(s) to comment on, or 'none'.
 * - pull_request(_target/_review/_review_comment) events: the event's pull request;
 * - issue_comment on a pull request (ChatOps "/promote"): that pull request;
 * - anything else (tag push, workflow_dispatch, ...): `explicitPr` when given, else the pull
 *   request associated with the commit: merged/closed with merge_commit_sha == sha first, then
 *   open ones, then other merged ones. At most one number.
 * API errors propagate (the caller logs them).
 */
export async function findPullRequestNumbers(
  ctx: PullRequestContext,
  client: PullRequestClient,
  explicitPr?: number,
): Promise<number[] | 'none'> {
  const payload = ctx.payload ?? {};
  if (PR_EVENTS.has(ctx.eventName)) {
    const n = validNumber(payload.pull_request?.number) ?? validNumber(explicitPr);
    return n ? [n] : 'none';
  }
  if (ctx.eventName === 'issue_comment' && payload.issue?.pull_request) {
    const n = validNumber(payload.issue.number) ?? validNumber(explicitPr);
    return n ? [n] : 'none';
  }
  const explicit = validNumber(explicitPr);
  if (explicit) return [explicit];
  if (!ctx.sha) return 'none';

  const { data } = await client.rest.repos.listPullRequestsAssociatedWithCommit({
    owner: ctx.repo.owner,
    repo: ctx.repo.repo,
    commit_sha: ctx.sha,
    per_page: 100,
  });
  const pulls = (data ?? []).filter((p) => validNumber(p.number));
  const best =
    pulls.find((p) => (p.state === 'closed' || !!p.merged_at) && p.merge_commit_sha === ctx.sha) ??
    pulls.find((p) => p.state === 'open') ??
    pulls.find((p) => !!p.merged_at);
  return best ? [best.number] : 'none';
}
