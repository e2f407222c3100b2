// One pull-request comment per namespace/release, created once and then updated in place.
// Never throws: a comment is a convenience, the rollout must not depend on it.

import * as github from '@actions/github';
import { findPullRequestNumbers, type PullRequestClient, type PullRequestContext } from './pull-request.js';
import { commentMarker, startsWithMarker } from './summary.js';

export interface CommentLogger {
  info(message: string): void;
  warning(message: string): void;
}

export interface IssueComment {
  id: number;
  body?: string | null;
}

// A type alias, not an interface: Octokit's parameter types need an implicit index signature.
type RepoRef = {
  owner: string;
  repo: string;
};

/** The slice of an Octokit client this needs (`github.getOctokit(token)` satisfies it). */
export interface CommentClient {
  rest: {
    issues: {
      listComments(
        params: RepoRef & { issue_number: number; per_page?: number; page?: number },
      ): Promise<{ data: IssueComment[] }>;
      createComment(
        params: RepoRef & { issue_number: number; body: string },
      ): Promise<{ data: { id: number } }>;
      updateComment(
        params: RepoRef & { comment_id: number; body: string },
      ): Promise<{ data: { id: number } }>;
    };
  };
}

export interface CommentPublisherOptions {
  client: CommentClient;
  repo: RepoRef;
  /** The pull request (issue) number. */
  issueNumber: number;
  /** Hidden marker the comment starts with: commentMarker(namespace, release). */
  marker: string;
  logger: CommentLogger;
  /** Minimum time between two writes of non-final bodies; default 2000 ms. */
  minIntervalMs?: number;
  /** Clock, for tests; default Date.now. */
  now?: () => number;
}

const PER_PAGE = 100;
const MAX_PAGES = 50;
const MARKER_AT_START = /^<!-- helm-canary:[^\n]*?-->/;

type Action = 'read' | 'write';

function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown } | null)?.status;
  return typeof s === 'number' ? s : undefined;
}

function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}

/** GitHub answers secondary rate limits with 403 too; those are transient, not a permission problem. */
function isRateLimit(err: unknown): boolean {
  const headers =
    (err as { response?: { headers?: Record<string, unknown> } } | null)?.response?.headers ?? {};
  return (
    /rate limit/i.test(messageOf(err)) ||
    headers['x-ratelimit-remaining'] === '0' ||
    headers['retry-after'] !== undefined
  );
}

export function permissionWarning(status: number, action: Action): string {
  const what = action === 'read' ? 'read the pull-request comments' : 'write the pull-request comment';
  return (
    `helm-canary could not ${what} (HTTP ${status}): the token needs "pull-requests: write" ` +
    `(and "issues: write") permission; forked pull requests get a read-only token. The rollout is not affected.`
  );
}

export class CommentPublisher {
  readonly issueNumber: number;
  readonly marker: string;
  private readonly client: CommentClient;
  private readonly repo: RepoRef;
  private readonly logger: CommentLogger;
  private readonly minIntervalMs: number;
  private readonly now: () => number;

  private commentId: number | undefined;
  private disabled = false;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private lastWritten: string | undefined;
  private pending: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing = 0;
  /** Writes run one after another, so two calls can never both create a comment. */
  private chain: Promise<void> = Promise.resolve();
  private readonly warned = new Set<string>();

  constructor(opts: CommentPublisherOptions) {
    this.client = opts.client;
    this.repo = { owner: opts.repo.owner, repo: opts.repo.repo };
    this.issueNumber = opts.issueNumber;
    this.marker = opts.marker;
    this.logger = opts.logger;
    this.minIntervalMs = opts.minIntervalMs ?? 2000;
    this.now = opts.now ?? Date.now;
  }

  /** False after a permission error: every later call is a no-op. */
  get enabled(): boolean {
    return !this.disabled;
  }

  /**
   * Create or update the comment with `body` (the marker is prepended when missing). Non-final
   * bodies are throttled to one write per interval: the latest one is kept and written when the
   * interval has passed (or by a final call). `final` writes at once and waits for it. Never throws.
   */
  async publish(body: string, final = false): Promise<void> {
    if (this.disabled) return;
    const text = this.withMarker(body);
    if (final) {
      this.clearTimer();
      this.pending = undefined;
      return this.enqueue(text);
    }
    const wait = this.lastWriteAt + this.minIntervalMs - this.now();
    if (wait > 0 || this.writing > 0) {
      this.pending = text;
      this.schedule(Math.max(wait, 0));
      return;
    }
    return this.enqueue(text);
  }

  /** Write the pending body now, if any, and wait for all writes. Never throws. */
  async flush(): Promise<void> {
    const p = this.pending;
    if (p !== undefined && !this.disabled) return this.publish(p, true);
    this.clearTimer();
    return this.chain;
  }

  private withMarker(body: string): string {
    const trimmed = body.trimStart();
    if (trimmed.startsWith(this.marker)) return trimmed;
    if (startsWithMarker(trimmed)) return trimmed.replace(MARKER_AT_START, this.marker);
    return `${this.marker}\n${body}`;
  }

  private schedule(waitMs: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const p = this.pending;
      if (p === undefined || this.disabled) return;
      if (this.writing > 0) {
        this.schedule(this.minIntervalMs);
        return;
      }
      this.pending = undefined;
      void this.enqueue(p);
    }, waitMs);
    // A pending intermediate update must not keep the runner's process alive.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private enqueue(body: string): Promise<void> {
    this.writing++;
    const run = this.chain.then(() => this.write(body));
    this.chain = run.finally(() => {
      this.writing--;
    });
    return this.chain;
  }

  private async write(body: string): Promise<void> {
    if (this.disabled || body === this.lastWritten) return;
    this.lastWriteAt = this.now();
    let action: Action = 'read';
    try {
      if (this.commentId === undefined) {
        this.commentId = await this.findExisting();
        if (this.commentId !== undefined)
          this.logger.info(`Updating pull-request comment ${this.commentId} on #${this.issueNumber}.`);
      }
      action = 'write';
      if (this.commentId !== undefined) {
        try {
          await this.update(this.commentId, body);
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
          // Deleted since we found it: look again, create when it is really gone.
          action = 'read';
          this.commentId = await this.findExisting();
          action = 'write';
          if (this.commentId !== undefined) await this.update(this.commentId, body);
          else await this.create(body);
        }
      } else {
        await this.create(body);
      }
      this.lastWritten = body;
    } catch (err) {
      this.fail(err, action);
    }
  }

  private async create(body: string): Promise<void> {
    const { data } = await this.client.rest.issues.createComment({
      ...this.repo,
      issue_number: this.issueNumber,
      body,
    });
    this.commentId = data.id;
    this.logger.info(`Created pull-request comment ${data.id} on #${this.issueNumber}.`);
  }

  private async update(id: number, body: string): Promise<void> {
    await this.client.rest.issues.updateComment({ ...this.repo, comment_id: id, body });
  }

  private async findExisting(): Promise<number | undefined> {
    for (let page = 1; page <= MAX_PAGES; page++) {
      const { data } = await this.client.rest.issues.listComments({
        ...this.repo,
        issue_number: this.issueNumber,
        per_page: PER_PAGE,
        page,
      });
      const hit = (data ?? []).find((c) => (c.body ?? '').trimStart().startsWith(this.marker));
      if (hit) return hit.id;
      if (!data || data.length < PER_PAGE) return undefined;
    }
    return undefined;
  }

  private fail(err: unknown, action: Action): void {
    const status = statusOf(err);
    if ((status === 403 || status === 404) && !isRateLimit(err)) {
      this.disabled = true;
      this.pending = undefined;
      this.clearTimer();
      this.logger.warning(permissionWarning(status, action));
      return;
    }
    const what = action === 'read' ? 'read the pull-request comments' : 'write the pull-request comment';
    const msg =
      `helm-canary could not ${what}${status ? ` (HTTP ${status})` : ''}: ${messageOf(err)}. ` +
      `The rollout is not affected.`;
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    this.logger.warning(msg);
  }
}

export interface CommentSettings {
  githubToken?: string;
  comment: boolean;
  prNumber?: number;
  namespace: string;
  /** Base release name (settings.release). */
  release: string;
}

export interface CommentDeps {
  /** Default: github.getOctokit. */
  getOctokit?: (token: string) => CommentClient & PullRequestClient;
  minIntervalMs?: number;
}

/**
 * A publisher for the run's pull request, or undefined when comments are off, there is no token
 * or no pull request (logged once). Never throws.
 */
export async function createCommentPublisher(
  settings: CommentSettings,
  context: PullRequestContext,
  logger: CommentLogger,
  deps: CommentDeps = {},
): Promise<CommentPublisher | undefined> {
  if (!settings.comment) return undefined;
  if (!settings.githubToken) {
    logger.info('No github-token; skipping the pull-request comment.');
    return undefined;
  }
  let sha = '';
  try {
    sha = context.sha;
    const repo = context.repo; // @actions/github's getter throws without GITHUB_REPOSITORY
    const client = (deps.getOctokit ?? ((t: string) => github.getOctokit(t)))(settings.githubToken);
    const found = await findPullRequestNumbers(
      { eventName: context.eventName, payload: context.payload, sha, repo },
      client,
      settings.prNumber,
    );
    if (found === 'none' || found.length === 0) {
      logger.info(`No pull request found for ${sha || 'this run'}; skipping the comment.`);
      return undefined;
    }
    return new CommentPublisher({
      client,
      repo,
      issueNumber: found[0],
      marker: commentMarker(settings.namespace, settings.release),
      logger,
      minIntervalMs: deps.minIntervalMs,
    });
  } catch (err) {
    const status = statusOf(err);
    logger.warning(
      `helm-canary could not look up the pull request for ${sha || 'this run'}` +
        `${status ? ` (HTTP ${status})` : ''}: ${messageOf(err)}; skipping the comment. The rollout is not affected.`,
    );
    return undefined;
  }
}
