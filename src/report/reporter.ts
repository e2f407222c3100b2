// Writes what the rollout did where people look: the job summary, one pull-request comment kept up
// to date, the `report-json` file and the `summary` output. Everything passes through the
// SecretRegistry that input parsing filled (settings.secrets).
import * as core from '@actions/core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SecretRegistry } from '../lib/secrets.js';
import type { Settings } from '../lib/types.js';
import type { RunReport } from './model.js';
import { renderOneLine, renderSummary } from './summary.js';
import { createCommentPublisher, type CommentPublisher } from './comment-helper.js';
import type { PullRequestContext } from './pull-request.js';

interface Logger {
  info(m: string): void;
  warning(m: string): void;
}

interface RunContext extends PullRequestContext {
  serverUrl?: string;
  runId?: number;
}

export class Reporter {
  private constructor(
    private readonly settings: Settings,
    private readonly secrets: SecretRegistry,
    private readonly comment: CommentPublisher | undefined,
    readonly runUrl: string | undefined,
  ) {}

  static async create(settings: Settings, context: RunContext, log: Logger): Promise<Reporter> {
    const repo = process.env.GITHUB_REPOSITORY;
    const runUrl =
      repo && context.runId
        ? `${context.serverUrl ?? 'https://github.com'}/${repo}/actions/runs/${context.runId}`
        : undefined;
    const comment = await createCommentPublisher(
      {
        githubToken: settings.githubToken,
        comment: settings.comment && !settings.dryRun,
        prNumber: settings.prNumber,
        namespace: settings.namespace,
        release: settings.release,
      },
      context,
      log,
    );
    return new Reporter(settings, settings.secrets, comment, runUrl);
  }

  /** Called after every state change; the comment publisher throttles the writes. */
  async update(report: RunReport, final: boolean): Promise<void> {
    if (!this.comment) return;
    const body = this.secrets.redact(renderSummary(report, { forComment: true }));
    await this.comment.publish(body, final);
  }

  /** The one line for the run page: release, step and reason. */
  oneLine(report: RunReport): string {
    return this.secrets.redact(renderOneLine(report));
  }

  /** The end of the run: JSON file and job summary (the final comment went out with update(final)). */
  async finish(report: RunReport): Promise<{ jsonPath: string; markdown: string }> {
    const markdown = this.secrets.redact(renderSummary(report));
    const dir = process.env.RUNNER_TEMP || os.tmpdir();
    const jsonPath = path.join(
      dir,
      `helm-canary-${this.settings.namespace}-${this.settings.canaryRelease}.json`,
    );
    fs.writeFileSync(jsonPath, this.secrets.redact(JSON.stringify(report, null, 2)) + '\n');
    if (process.env.GITHUB_STEP_SUMMARY) {
      try {
        await core.summary.addRaw(markdown, true).write();
      } catch (err) {
        core.warning(`Could not write the job summary: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { jsonPath, markdown };
  }
}
