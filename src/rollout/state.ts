// The cluster is the only state: helm-canary records what it did as annotations on the
// VirtualService, so a later run (rollout, promote, rollback, status) finds everything there.

export const ANNOTATION_PREFIX = 'helm-canary.io/';

export const Keys = {
  stable: `${ANNOTATION_PREFIX}stable-release`,
  stableHost: `${ANNOTATION_PREFIX}stable-host`,
  canary: `${ANNOTATION_PREFIX}canary-release`,
  canaryHost: `${ANNOTATION_PREFIX}canary-host`,
  weight: `${ANNOTATION_PREFIX}canary-weight`,
  status: `${ANNOTATION_PREFIX}status`,
  runUrl: `${ANNOTATION_PREFIX}run-url`,
  updated: `${ANNOTATION_PREFIX}updated`,
} as const;

export type RolloutPhase = 'progressing' | 'promoted' | 'paused' | 'rolled-back' | 'failed';

export interface RolloutState {
  stableRelease?: string;
  stableHost?: string;
  canaryRelease?: string;
  canaryHost?: string;
  weight?: number;
  status?: RolloutPhase;
  runUrl?: string;
}

export function readState(annotations: Record<string, string> | undefined): RolloutState {
  const a = annotations ?? {};
  const weight = a[Keys.weight] !== undefined ? Number(a[Keys.weight]) : undefined;
  return {
    stableRelease: a[Keys.stable] || undefined,
    stableHost: a[Keys.stableHost] || undefined,
    canaryRelease: a[Keys.canary] || undefined,
    canaryHost: a[Keys.canaryHost] || undefined,
    weight: weight !== undefined && Number.isFinite(weight) ? weight : undefined,
    status: (a[Keys.status] as RolloutPhase) || undefined,
    runUrl: a[Keys.runUrl] || undefined,
  };
}

/** Annotations to write for a state change; `null` removes a key. */
export function stateAnnotations(s: RolloutState, now: Date): Record<string, string | null> {
  const v = (x: string | number | undefined): string | null => (x === undefined ? null : String(x));
  return {
    [Keys.stable]: v(s.stableRelease),
    [Keys.stableHost]: v(s.stableHost),
    [Keys.canary]: v(s.canaryRelease),
    [Keys.canaryHost]: v(s.canaryHost),
    [Keys.weight]: v(s.weight),
    [Keys.status]: v(s.status),
    [Keys.runUrl]: v(s.runUrl),
    [Keys.updated]: now.toISOString(),
  };
}
