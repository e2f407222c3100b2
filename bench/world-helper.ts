// One watched run of the bundled action against a fresh stand-in world: when the canary was
// installed (the VirtualService names it as the progressing canary), the highest canary weight,
// when the users' route was back to stable only with no pinned route left.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { World, CHARTS, type ActionRun } from '../standins/world.js';
import { UserLoad } from './load-helper.js';

export const HOST = '127.0.0.1.xip.io';
export const STABLE_ONLY = 'foolish-penguin-sample=100';
export const CANARY_BACKEND = 'default/sample-v2';

export interface Watched {
  run: ActionRun;
  installedAt?: number;
  /** Route back to stable only, no pinned route, after the canary was installed. */
  restoredAt?: number;
  maxCanaryWeight: number;
  load?: UserLoad;
}

export function baseInputs(w: World): Record<string, string> {
  return {
    chart: path.join(CHARTS, 'sample'),
    release: 'sample',
    version: 'v2',
    'virtual-service': 'exciting-lemur-vs',
    'verify-url': `${w.gateway.url}/`,
    'verify-host': HOST,
  };
}

/** Runs the action once in `w` (already holding the tutorial), with users' load at `userRps` if set. */
export async function watchedRun(
  w: World,
  inputs: Record<string, string>,
  o: { userRps?: number; onSpawn?: (p: ChildProcess) => void } = {},
): Promise<Watched> {
  const load = o.userRps ? new UserLoad(w.gateway.url, HOST, o.userRps) : undefined;
  load?.start();
  const out: Omit<Watched, 'run'> = { maxCanaryWeight: 0, load };
  // The canary had the pinned route or a weight: from then on, stable-only means restored.
  let touched = false;
  const t = setInterval(() => {
    const vs = w.vs();
    const ann = vs?.metadata?.annotations ?? {};
    const ws = w.weights();
    const m = /sample-v2=(\d+)/.exec(ws);
    if (m) out.maxCanaryWeight = Math.max(out.maxCanaryWeight, Number(m[1]));
    if (
      out.installedAt === undefined &&
      ann['helm-canary.io/canary-release'] === 'sample-v2' &&
      ann['helm-canary.io/status'] === 'progressing'
    )
      out.installedAt = Date.now();
    const pinned = !!w.pinnedRoute();
    if (out.installedAt !== undefined && (pinned || (m?.[1] !== undefined && m[1] !== '0'))) touched = true;
    if (touched && out.restoredAt === undefined && ws === STABLE_ONLY && !pinned) out.restoredAt = Date.now();
  }, 5);
  try {
    const run = await w.runAction(inputs, { onSpawn: o.onSpawn });
    return { ...out, run };
  } finally {
    clearInterval(t);
    // Users' requests still in flight when the run ended are not counted (they landed after it).
    load?.stop();
  }
}

export async function withWorld<T>(fn: (w: World) => Promise<T>): Promise<T> {
  const w = await World.start();
  try {
    await w.tutorial();
    return await fn(w);
  } finally {
    await w.stop();
  }
}
