// GitHub REST API stand-in: the few endpoints helm-canary uses for pull-request comments.
// Real Octokit (`getOctokit(token, { baseUrl: server.url })`) works against it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface GitHubRequest {
  method: string;
  /** Path without the query string (and without a GHES "/api/v3" prefix). */
  path: string;
  /** Query string parameters, when any were sent. */
  query?: Record<string, string>;
  body?: any;
  /** Date.now() when the request arrived. */
  at: number;
  /** The Authorization header as sent (e.g. "token ghs_xxx"). */
  auth?: string;
}

export interface PullRequestSeed {
  number: number;
  head_sha: string;
  merge_commit_sha?: string;
  state?: 'open' | 'closed';
  merged?: boolean;
  title?: string;
  head_ref?: string;
  base_ref?: string;
}

export interface IssueComment {
  id: number;
  body: string;
  user: { login: string; id: number; type: string };
  created_at: string;
  updated_at: string;
}

/** Login of the user behind every token (the GITHUB_TOKEN of a workflow). */
export const TOKEN_LOGIN = 'github-actions[bot]';
const BOT_USER = { login: TOKEN_LOGIN, id: 41898282, type: 'Bot' };
const DOCS = 'https://docs.github.com/rest';
const MAX_BODY = 65536;

interface Repo {
  owner: string;
  name: string;
  pulls: Map<number, PullRequestSeed & { created_at: string }>;
  comments: Map<number, IssueComment & { issue: number }>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class GitHubApiServer {
  readonly url: string;
  readonly port: number;
  readonly requests: GitHubRequest[] = [];
  private readonly repos = new Map<string, Repo>();
  private nextCommentId = 1_000_001;
  private forbidden: 403 | 404 | undefined;

  private constructor(private readonly server: http.Server) {
    this.port = (server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  static async start(o: { port?: number } = {}): Promise<GitHubApiServer> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const gh = new GitHubApiServer(server);
    server.on('request', (req, res) => gh.handle(req, res));
    return gh;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  addPullRequest(owner: string, repo: string, pr: PullRequestSeed): void {
    this.repo(owner, repo, true)!.pulls.set(pr.number, { ...pr, created_at: new Date().toISOString() });
  }

  /** Seed a comment, e.g. one written by another user. Returns its id. */
  addComment(owner: string, repo: string, issueNumber: number, body: string, login = TOKEN_LOGIN): number {
    const r = this.repo(owner, repo, true)!;
    const now = new Date().toISOString();
    const id = this.nextCommentId++;
    const user = login === TOKEN_LOGIN ? BOT_USER : { login, id: 1000 + r.comments.size, type: 'User' };
    r.comments.set(id, { id, body, user, created_at: now, updated_at: now, issue: issueNumber });
    return id;
  }

  comments(
    owner: string,
    repo: string,
    issueNumber: number,
  ): Array<{ id: number; body: string; user: { login: string } }> {
    const r = this.repo(owner, repo, false);
    if (!r) return [];
    return [...r.comments.values()]
      .filter((c) => c.issue === issueNumber)
      .map((c) => ({ id: c.id, body: c.body, user: { ...c.user } }));
  }

  /** Answer writes to comments (POST/PATCH/DELETE) with this status; call allowCommentWrites() to undo. */
  forbidCommentWrites(status: 403 | 404 = 403): void {
    this.forbidden = status;
  }

  allowCommentWrites(): void {
    this.forbidden = undefined;
  }

  // -------------------------------------------------------------------------------------------

  private repo(owner: string, name: string, create: boolean): Repo | undefined {
    const key = `${owner}/${name}`.toLowerCase();
    let r = this.repos.get(key);
    if (!r && create) {
      r = { owner, name, pulls: new Map(), comments: new Map() };
      this.repos.set(key, r);
    }
    return r;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.on('error', () => undefined);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('end', () => {
      const u = new URL(req.url ?? '/', this.url);
      const path = u.pathname.replace(/^\/api\/v3(?=\/)/, '').replace(/\/+$/, '') || '/';
      const method = (req.method ?? 'GET').toUpperCase();
      const raw = Buffer.concat(chunks).toString('utf8');
      const record: GitHubRequest = { method, path, at: Date.now() };
      if ([...u.searchParams.keys()].length) record.query = Object.fromEntries(u.searchParams);
      if (req.headers.authorization) record.auth = req.headers.authorization;
      let body: any;
      let badJson = false;
      if (raw.length) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
          badJson = true;
        }
        record.body = body;
      }
      this.requests.push(record);
      try {
        if (badJson) throw new ApiError(400, 'Problems parsing JSON');
        const out = this.route(method, path, u.searchParams, body, req.headers.authorization);
        this.send(res, out.status, out.body, out.headers);
      } catch (e) {
        if (e instanceof ApiError) {
          this.send(res, e.status, {
            message: e.message,
            ...e.extra,
            documentation_url: DOCS,
            status: String(e.status),
          });
        } else {
          this.send(res, 500, { message: `stand-in error: ${(e as Error).message}` });
        }
      }
    });
  }

  private send(
    res: http.ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (res.destroyed || res.headersSent) return;
    const payload = status === 204 || body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
      'x-github-media-type': 'github.v3; format=json',
      'x-github-request-id': `STANDIN:${this.requests.length}`,
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      'x-ratelimit-resource': 'core',
      ...headers,
    });
    res.end(payload);
  }

  private route(
    method: string,
    path: string,
    q: URLSearchParams,
    body: any,
    auth: string | undefined,
  ): { status: number; body?: unknown; headers?: Record<string, string> } {
    const seg = path.split('/').slice(1).map(decodeURIComponent);
    if (seg[0] !== 'repos' || seg.length < 4) throw new ApiError(404, 'Not Found');
    const [, owner, name, ...rest] = seg;
    const r = this.repo(owner, name, false);
    if (!r) throw new ApiError(404, 'Not Found');
    const isWrite = method !== 'GET' && method !== 'HEAD';
    const base = `${this.url}/repos/${r.owner}/${r.name}`;

    // GET /repos/{o}/{r}/commits/{sha}/pulls
    if (rest.length === 3 && rest[0] === 'commits' && rest[2] === 'pulls' && method === 'GET') {
      const sha = rest[1].toLowerCase();
      const prs = [...r.pulls.values()]
        .filter((p) => p.head_sha.toLowerCase() === sha || p.merge_commit_sha?.toLowerCase() === sha)
        .sort((a, b) => b.number - a.number)
        .map((p) => this.pullJson(r, p, false));
      return this.page(prs, q, path);
    }
    // GET /repos/{o}/{r}/pulls/{n}
    if (rest.length === 2 && rest[0] === 'pulls' && method === 'GET') {
      const p = r.pulls.get(Number(rest[1]));
      if (!p) throw new ApiError(404, 'Not Found');
      return { status: 200, body: this.pullJson(r, p, true) };
    }
    // /repos/{o}/{r}/issues/{n}/comments
    if (rest.length === 3 && rest[0] === 'issues' && rest[2] === 'comments' && /^\d+$/.test(rest[1])) {
      const n = Number(rest[1]);
      if (method === 'GET') {
        if (!r.pulls.has(n) && ![...r.comments.values()].some((c) => c.issue === n))
          throw new ApiError(404, 'Not Found');
        const list = [...r.comments.values()]
          .filter((c) => c.issue === n)
          .sort((a, b) => a.id - b.id)
          .map((c) => this.commentJson(r, c));
        return this.page(list, q, path);
      }
      if (method === 'POST') {
        this.checkWrite(auth, 'create-an-issue-comment');
        if (!r.pulls.has(n) && ![...r.comments.values()].some((c) => c.issue === n))
          throw new ApiError(404, 'Not Found');
        const text = this.validBody(body);
        const id = this.addComment(r.owner, r.name, n, text);
        return {
          status: 201,
          body: this.commentJson(r, r.comments.get(id)!),
          headers: { location: `${base}/issues/comments/${id}` },
        };
      }
      throw new ApiError(404, 'Not Found');
    }
    // /repos/{o}/{r}/issues/comments/{id}
    if (rest.length === 3 && rest[0] === 'issues' && rest[1] === 'comments' && /^\d+$/.test(rest[2])) {
      const c = r.comments.get(Number(rest[2]));
      if (isWrite)
        this.checkWrite(auth, method === 'DELETE' ? 'delete-an-issue-comment' : 'update-an-issue-comment');
      if (!c) throw new ApiError(404, 'Not Found');
      if (method === 'GET') return { status: 200, body: this.commentJson(r, c) };
      if (method === 'PATCH') {
        c.body = this.validBody(body);
        c.updated_at = new Date().toISOString();
        return { status: 200, body: this.commentJson(r, c) };
      }
      if (method === 'DELETE') {
        r.comments.delete(c.id);
        return { status: 204 };
      }
    }
    throw new ApiError(404, 'Not Found');
  }

  private checkWrite(auth: string | undefined, doc: string): void {
    if (!auth) throw new ApiError(401, 'Requires authentication');
    if (this.forbidden === 403)
      throw new ApiError(403, 'Resource not accessible by integration', {
        documentation_url: `${DOCS}/issues/comments#${doc}`,
      });
    if (this.forbidden === 404) throw new ApiError(404, 'Not Found');
  }

  private validBody(body: any): string {
    if (!body || typeof body !== 'object' || typeof body.body !== 'string') {
      throw new ApiError(422, 'Invalid request.\n\n"body" wasn\'t supplied.');
    }
    if (body.body.length > MAX_BODY) {
      throw new ApiError(422, 'Validation Failed', {
        errors: [
          {
            resource: 'IssueComment',
            code: 'unprocessable',
            field: 'data',
            message: `Body is too long (maximum is ${MAX_BODY} characters)`,
          },
        ],
      });
    }
    return body.body;
  }

  /** per_page (default 30, max 100) / page (default 1) with a GitHub-style Link header. */
  private page<T>(all: T[], q: URLSearchParams, path: string) {
    const perPage = Math.min(100, Math.max(1, Number(q.get('per_page')) || 30));
    const page = Math.max(1, Number(q.get('page')) || 1);
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const items = all.slice((page - 1) * perPage, page * perPage);
    const link = (p: number, rel: string) => {
      const params = new URLSearchParams(q);
      params.set('per_page', String(perPage));
      params.set('page', String(p));
      return `<${this.url}${path}?${params}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page > 1) links.push(link(page - 1, 'prev'));
    if (page < last) links.push(link(page + 1, 'next'));
    if (page > 1 || page < last) links.push(link(last, 'last'), link(1, 'first'));
    return {
      status: 200,
      body: items,
      headers: (links.length ? { link: links.join(', ') } : {}) as Record<string, string>,
    };
  }

  private pullJson(r: Repo, p: PullRequestSeed & { created_at: string }, full: boolean) {
    const merged = p.merged === true;
    const state = p.state ?? (merged ? 'closed' : 'open');
    const json: Record<string, unknown> = {
      url: `${this.url}/repos/${r.owner}/${r.name}/pulls/${p.number}`,
      html_url: `https://github.com/${r.owner}/${r.name}/pull/${p.number}`,
      id: 5_000_000 + p.number,
      number: p.number,
      state,
      locked: false,
      title: p.title ?? `Pull request #${p.number}`,
      user: { login: 'octocat', id: 1, type: 'User' },
      body: null,
      created_at: p.created_at,
      updated_at: p.created_at,
      closed_at: state === 'closed' ? p.created_at : null,
      merged_at: merged ? p.created_at : null,
      merge_commit_sha: p.merge_commit_sha ?? null,
      draft: false,
      head: { label: `${r.owner}:${p.head_ref ?? 'feature'}`, ref: p.head_ref ?? 'feature', sha: p.head_sha },
      base: { label: `${r.owner}:${p.base_ref ?? 'main'}`, ref: p.base_ref ?? 'main', sha: '0'.repeat(40) },
      issue_url: `${this.url}/repos/${r.owner}/${r.name}/issues/${p.number}`,
      comments_url: `${this.url}/repos/${r.owner}/${r.name}/issues/${p.number}/comments`,
    };
    if (full) {
      json.merged = merged;
      json.mergeable = state === 'open' ? true : null;
      json.comments = [...r.comments.values()].filter((c) => c.issue === p.number).length;
    }
    return json;
  }

  private commentJson(r: Repo, c: IssueComment & { issue: number }) {
    return {
      id: c.id,
      node_id: `IC_standin${c.id}`,
      url: `${this.url}/repos/${r.owner}/${r.name}/issues/comments/${c.id}`,
      html_url: `https://github.com/${r.owner}/${r.name}/pull/${c.issue}#issuecomment-${c.id}`,
      issue_url: `${this.url}/repos/${r.owner}/${r.name}/issues/${c.issue}`,
      body: c.body,
      user: { ...c.user },
      created_at: c.created_at,
      updated_at: c.updated_at,
      author_association: c.user.login === TOKEN_LOGIN ? 'NONE' : 'MEMBER',
    };
  }
}
