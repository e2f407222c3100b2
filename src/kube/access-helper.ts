// Preflight of the cluster permissions a run needs: one SelfSubjectAccessReview per need, all sent
// by a single `kubectl create -f - -o json` of a List (kubectl 1.31 and 1.35 alike, and what real
// clusters answer exactly: `auth can-i --list` is marked incomplete by webhook authorizers).
import type { Logger } from '../lib/types.js';
import type { IKubectl, KubeObject } from './kubectl-helper.js';

/** One permission: `verb` on `resource` (plural) of API `group` ('' = core), in `namespace`. */
export interface AccessNeed {
  verb: string;
  group: string;
  resource: string;
  namespace: string;
  /** The object's name, when only that one is needed. */
  name?: string;
}

export type AccessResult =
  | { checked: true; missing: AccessNeed[] }
  /** The reviews themselves failed (not allowed, or no authorization API): nothing is known. */
  | { checked: false; why: string };

/** `patch virtualservices.networking.istio.io`. Pure. */
export function describeNeed(n: AccessNeed): string {
  return `${n.verb} ${n.group ? `${n.resource}.${n.group}` : n.resource}`;
}

function review(n: AccessNeed): KubeObject {
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    metadata: {},
    spec: {
      resourceAttributes: {
        namespace: n.namespace,
        verb: n.verb,
        group: n.group,
        resource: n.resource,
        ...(n.name ? { name: n.name } : {}),
      },
    },
  };
}

/** Asks the API server whether the kubeconfig's user may do each of `needs`. */
export async function checkAccess(kubectl: IKubectl, needs: AccessNeed[]): Promise<AccessResult> {
  if (!needs.length) return { checked: true, missing: [] };
  let out: { kind?: string; items?: unknown[]; status?: { allowed?: boolean } };
  try {
    out = await kubectl.create({ apiVersion: 'v1', kind: 'List', metadata: {}, items: needs.map(review) });
  } catch (err) {
    return { checked: false, why: err instanceof Error ? err.message : String(err) };
  }
  // one review comes back as the object itself, several as a List in request order
  const answers = (out.kind === 'List' ? (out.items ?? []) : [out]) as { status?: { allowed?: boolean } }[];
  if (answers.length !== needs.length)
    return { checked: false, why: `kubectl answered ${answers.length} reviews for ${needs.length}` };
  return { checked: true, missing: needs.filter((_, i) => answers[i]?.status?.allowed !== true) };
}

/** The error naming every missing permission once (names of objects left out). Pure. */
export function missingAccessMessage(missing: AccessNeed[], namespace: string): string {
  const what = [...new Set(missing.map(describeNeed))];
  return (
    `The kubeconfig's user cannot: ${what.join(', ')} (namespace "${namespace}"); ` +
    `grant them with a Role like examples/rbac.yaml of helm-canary`
  );
}

/**
 * The preflight hook: throws naming every missing permission; when the cluster does not let the
 * user review its own access, warns and lets the run go on (the API server still enforces RBAC).
 */
export async function preflightAccess(
  kubectl: IKubectl,
  needs: AccessNeed[],
  namespace: string,
  log: Pick<Logger, 'info' | 'warning'>,
): Promise<void> {
  const r = await checkAccess(kubectl, needs);
  if (!r.checked) {
    log.warning(`Could not check the cluster permissions before the run (SelfSubjectAccessReview): ${r.why}`);
    return;
  }
  if (r.missing.length) throw new Error(missingAccessMessage(r.missing, namespace));
  log.info(`Cluster permissions: the ${needs.length} this run needs are granted.`);
}
