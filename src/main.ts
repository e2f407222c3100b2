import * as core from '@actions/core';

/** Entry point of the action. Never throws: every failure ends in core.setFailed. */
export async function run(): Promise<void> {
  try {
    core.info('helm-canary');
  } catch (err) {
    core.setFailed(err instanceof Error ? err.message : String(err));
  }
}
