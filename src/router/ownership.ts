// Pure: who else manages the routing object whose weights helm-canary changes, what that will do
// to the weights (or to their next deploy), and what the user can do about it. Every traffic API
// describes its object with a RoutingProfile; the analysis is the same for all of them.
// Background: docs/ownership.md (Helm 3 client-side vs Helm 4 server-side apply, Argo CD, Flux).
import type { KubeMetadata } from '../kube/kubectl-helper.js';

/** How a traffic API's routing object names its routes, for the findings' wording and remedies. */
export interface RoutingProfile {
  /** e.g. "VirtualService" */
  kind: string;
  /** API group, e.g. "networking.istio.io" */
  group: string;
  /** The spec field that holds the routes, e.g. "http" (atomic in Istio's CRD). */
  routesField: string;
  /** Argo CD ignoreDifferences jqPathExpression of the weights, e.g. ".spec.http[].route". */
  argoJqPath: string;
  /** Why the jq form is used (shown in the remedy), or empty. */
  argoJqNote: string;
  /** Where the weights sit, for remedies; default `.spec.<routesField>[].route` (Istio). */
  weightsPath?: string;
}

export interface OwnerFinding {
  manager: 'helm' | 'argocd' | 'flux' | 'other';
  /** e.g. `Helm release "gateway" (namespace "shop")` */
  who: string;
  /** What was seen, one sentence. */
  detail: string;
  /** What will happen to the weights or to the other tool, one or two sentences. */
  consequence: string;
  /** What the user can do, concrete. */
  remedy: string;
  severity: 'info' | 'warning';
}

/** The field manager helm-canary writes with (kubectl --field-manager). */
export const OUR_FIELD_MANAGER = 'helm-canary';

interface ManagedEntry {
  manager: string;
  operation: string;
  fieldsV1?: Record<string, unknown>;
}

/** Any Kubernetes object as read with managedFields (the routing object). */
export interface OwnedObject {
  metadata?: KubeMetadata;
  [k: string]: unknown;
}

function managedEntries(vs: OwnedObject): ManagedEntry[] {
  const mf = vs?.metadata?.managedFields;
  if (!Array.isArray(mf)) return [];
  return mf
    .filter((e) => e && typeof e.manager === 'string')
    .map((e) => ({ manager: String(e.manager), operation: String(e.operation ?? ''), fieldsV1: e.fieldsV1 }));
}

/** True when the managedFields entry owns the routes field or anything under it. */
function ownsRoutes(e: ManagedEntry, p: RoutingProfile): boolean {
  const spec = e.fieldsV1?.['f:spec'];
  return !!spec && typeof spec === 'object' && `f:${p.routesField}` in spec;
}

const isArgoManager = (m: string): boolean => /argocd/i.test(m);
const isFluxManager = (m: string): boolean => m === 'kustomize-controller' || m === 'helm-controller';
const isHelmManager = (m: string): boolean => m === 'helm';

/**
 * Findings about other managers of the routing object `vs` (as read with managedFields).
 * `helmMajor` is the helm that helm-canary runs with; it refines the wording for Helm owners.
 */
export function findOwners(vs: OwnedObject, p: RoutingProfile, helmMajor?: 3 | 4): OwnerFinding[] {
  const kind = p.kind;
  const field = `.spec.${p.routesField}`;
  const name = String(vs?.metadata?.name ?? '(unnamed)');
  const ns = String(vs?.metadata?.namespace ?? '');
  const ann: Record<string, string> = vs?.metadata?.annotations ?? {};
  const labels: Record<string, string> = vs?.metadata?.labels ?? {};
  const entries = managedEntries(vs);
  const routeOwners = entries.filter((e) => ownsRoutes(e, p)).map((e) => e.manager);
  const ownedNow =
    routeOwners.length > 0
      ? ` ${field} is currently owned by field manager ${routeOwners.map((m) => `"${m}"`).join(', ')}.`
      : '';
  const findings: OwnerFinding[] = [];

  // ---- Flux ------------------------------------------------------------------------------
  const fluxHr = labels['helm.toolkit.fluxcd.io/name'];
  const fluxKs = labels['kustomize.toolkit.fluxcd.io/name'];
  if (fluxHr) {
    const hrNs = labels['helm.toolkit.fluxcd.io/namespace'] || ns;
    findings.push({
      manager: 'flux',
      who: `Flux HelmRelease "${fluxHr}" (namespace "${hrNs}")`,
      detail: `${kind} "${name}" is deployed by the Flux HelmRelease "${hrNs}/${fluxHr}" (labels helm.toolkit.fluxcd.io/*).`,
      consequence:
        `helm-controller upgrades that release whenever its chart or values change, and with drift detection enabled ` +
        `it corrects drift on every reconciliation; either puts the route weights back to the chart's values, ` +
        `possibly in the middle of a rollout.`,
      remedy:
        `In HelmRelease "${hrNs}/${fluxHr}" add spec.driftDetection.ignore: [{paths: ["/spec/${p.routesField}"], target: {kind: ${kind}, name: ${name}}}], ` +
        `and do not change the chart's ${kind} routes while helm-canary manages them; or suspend it during ` +
        `rollouts (flux suspend helmrelease ${fluxHr} -n ${hrNs}, then flux resume).`,
      severity: 'warning',
    });
  }
  if (fluxKs) {
    const ksNs = labels['kustomize.toolkit.fluxcd.io/namespace'] || ns;
    findings.push({
      manager: 'flux',
      who: `Flux Kustomization "${fluxKs}" (namespace "${ksNs}")`,
      detail: `${kind} "${name}" is applied by the Flux Kustomization "${ksNs}/${fluxKs}" (labels kustomize.toolkit.fluxcd.io/*).`,
      consequence:
        `kustomize-controller re-applies the manifest from Git at every reconciliation (spec.interval) and corrects ` +
        `drift, so it resets the route weights helm-canary sets, possibly in the middle of a rollout.`,
      remedy:
        `In Git, annotate this ${kind} with kustomize.toolkit.fluxcd.io/ssa: IfNotPresent (Flux creates it but ` +
        `no longer overwrites it), or suspend the Kustomization during rollouts ` +
        `(flux suspend kustomization ${fluxKs} -n ${ksNs}) and commit the final weights to Git afterwards.`,
      severity: 'warning',
    });
  }

  // ---- Argo CD -----------------------------------------------------------------------------
  const trackingId = ann['argocd.argoproj.io/tracking-id'];
  const argoInstance = labels['argocd.argoproj.io/instance'];
  const argoManager = entries.find((e) => isArgoManager(e.manager));
  let argoApp: string | undefined;
  let argoHow = '';
  if (trackingId) {
    argoApp = trackingId.split(':')[0] || undefined;
    argoHow = 'annotation argocd.argoproj.io/tracking-id';
  } else if (argoInstance) {
    argoApp = argoInstance;
    argoHow = 'label argocd.argoproj.io/instance';
  } else if (argoManager) {
    // Argo CD's default label tracking uses app.kubernetes.io/instance, which Helm charts set too:
    // only believe it when Argo CD's field manager is present.
    argoApp = labels['app.kubernetes.io/instance'];
    argoHow = `field manager "${argoManager.manager}"${argoApp ? ' and label app.kubernetes.io/instance' : ''}`;
  }
  if (trackingId || argoInstance || argoManager) {
    const app = argoApp ? `"${argoApp}"` : '(name unknown)';
    findings.push({
      manager: 'argocd',
      who: `Argo CD Application ${app}`,
      detail: `${kind} "${name}" is managed by the Argo CD Application ${app} (${argoHow}).`,
      consequence:
        `With automated sync and selfHeal, Argo CD reverts the route weights within seconds of each step (the canary ` +
        `loses its traffic, or gets it back after a rollback); without selfHeal the Application turns OutOfSync and ` +
        `the next sync resets the weights.`,
      remedy:
        `In the Application ${app} add spec.ignoreDifferences: [{group: ${p.group}, kind: ${kind}, ` +
        `name: ${name}, jqPathExpressions: ["${p.argoJqPath}"]}]${p.argoJqNote} and spec.syncPolicy.syncOptions: [RespectIgnoreDifferences=true] so that syncs ` +
        `keep helm-canary's weights.`,
      severity: 'warning',
    });
  }

  // ---- Helm --------------------------------------------------------------------------------
  const release = ann['meta.helm.sh/release-name'];
  const releaseNs = ann['meta.helm.sh/release-namespace'] || ns;
  const helmLabel = labels['app.kubernetes.io/managed-by'] === 'Helm';
  if ((release || helmLabel) && !fluxHr) {
    const who = release
      ? `Helm release "${release}" (namespace "${releaseNs}")`
      : 'a Helm release (name unknown)';
    const rel = release ? `"${release}"` : 'that release';
    const upgrade = release ? `helm upgrade ${release} -n ${releaseNs}` : 'helm upgrade';
    const helmApply = entries.some((e) => isHelmManager(e.manager) && e.operation === 'Apply');
    const helmUpdate = entries.some((e) => isHelmManager(e.manager) && e.operation === 'Update');
    const pending = routeOwners.some((m) => !isHelmManager(m))
      ? ` The weights have already been changed outside Helm, so this applies to the next upgrade now.`
      : '';
    if (helmApply) {
      findings.push({
        manager: 'helm',
        who,
        detail: `${kind} "${name}" belongs to ${who}, which Helm 4 writes with server-side apply (field manager "helm", operation Apply).${ownedNow}`,
        consequence:
          `The next \`helm upgrade\` (or \`helm rollback\`) of release ${rel} will fail with a field conflict on ${field} ` +
          `once helm-canary changes the weights (Helm 4 server-side apply), and that release revision is marked failed.${pending}`,
        remedy:
          `Exclude the route weights from that chart (let helm-canary own this ${kind}'s routes, e.g. render it ` +
          `only on first install); or upgrade that release client-side (\`${upgrade} --server-side=false\`); or pass ` +
          `--force-conflicts, knowing it resets the weights to the chart's values (which after a promotion may point ` +
          `at a release that no longer exists).`,
        severity: 'warning',
      });
    } else if (helmUpdate) {
      const h4 =
        helmMajor === 4
          ? ` Helm 4 keeps such a release client-side with its default --server-side=auto; upgrading it with ` +
            `--server-side=true switches it to server-side apply, after which every upgrade fails with a conflict on ${field}.`
          : '';
      findings.push({
        manager: 'helm',
        who,
        detail: `${kind} "${name}" belongs to ${who}, written client-side (field manager "helm", operation Update, as Helm 3 does).${ownedNow}`,
        consequence:
          `An upgrade of ${rel} that changes anything under ${field.slice(1)} (or uses --force / --force-replace) resets the ` +
          `weights to the chart's values; an upgrade that leaves ${field.slice(1)} unchanged keeps them.${h4}`,
        remedy:
          `Do not change the ${kind} routes in that chart while helm-canary manages them, and do not upgrade ` +
          `it with --force during a rollout; better, move the route weights out of that chart so helm-canary alone owns them.`,
        severity: 'warning',
      });
    } else {
      findings.push({
        manager: 'helm',
        who,
        detail:
          `${kind} "${name}" belongs to ${who}, but its managedFields do not show how Helm writes it ` +
          `(managedFields missing, or written by an older Helm).${ownedNow}`,
        consequence:
          `If that release is upgraded with Helm 4 server-side apply, the upgrade fails with a field conflict on ` +
          `${field} once helm-canary changes the weights; with Helm 3 (client-side), an upgrade that changes ` +
          `${field.slice(1)} or uses --force resets the weights to the chart's values.`,
        remedy:
          `Move the route weights out of that chart so helm-canary alone owns them; otherwise upgrade it client-side ` +
          `(Helm 4: --server-side=false) and without --force while a rollout runs.`,
        severity: 'warning',
      });
    }
  }

  // ---- Other field managers that own ${field} ----------------------------------------------
  const reported = new Set<string>();
  for (const e of entries) {
    if (!ownsRoutes(e, p)) continue;
    const m = e.manager;
    if (
      m === OUR_FIELD_MANAGER ||
      isHelmManager(m) ||
      isArgoManager(m) ||
      isFluxManager(m) ||
      reported.has(m)
    )
      continue;
    reported.add(m);
    findings.push(otherManager(name, m, e.operation, kind, field, p.weightsPath ?? `${field}[].route`));
  }
  return findings;
}

function otherManager(
  name: string,
  m: string,
  operation: string,
  kind: string,
  field: string,
  weights: string,
): OwnerFinding {
  const base = { manager: 'other' as const, who: `field manager "${m}"` };
  const detail = `${field} of ${kind} "${name}" was last written by field manager "${m}" (operation ${operation || 'unknown'}).`;
  if (/flagger|rollouts/i.test(m)) {
    return {
      ...base,
      detail,
      consequence: `Another progressive-delivery controller also sets these weights; it and helm-canary will overwrite each other.`,
      remedy: `Let one tool own this ${kind}: remove it from ${m}'s configuration, or use a separate ${kind} for helm-canary.`,
      severity: 'warning',
    };
  }
  if (m === 'kubectl-patch' || m === 'kubectl-edit') {
    return {
      ...base,
      detail: `${detail} Someone changed the routes by hand (kubectl ${m.slice(8)}), or an older helm-canary did.`,
      consequence: `Nothing reverts the weights automatically, but another manual or scripted change will overwrite what helm-canary sets.`,
      remedy: `Leave the route weights of this ${kind} to helm-canary while rollouts run.`,
      severity: 'info',
    };
  }
  if (
    m === 'kubectl-client-side-apply' ||
    m === 'kubectl' ||
    m === 'kubectl-replace' ||
    m === 'kubectl-create'
  ) {
    return {
      ...base,
      detail: `${detail} It was applied with kubectl.`,
      consequence:
        `A later \`kubectl apply\` (or replace) of the original manifest resets the weights to the manifest's values ` +
        `(with \`kubectl apply --server-side\` it fails with a conflict on ${field} unless --force-conflicts).`,
      remedy: `Do not re-apply that manifest during a rollout; drop the route weights from it, or update it to the weights helm-canary leaves after promotion.`,
      severity: 'info',
    };
  }
  return {
    ...base,
    detail,
    consequence: `If "${m}" is a controller that reconciles this ${kind}, it may reset the weights helm-canary sets.`,
    remedy: `Check what "${m}" is; if it reconciles this ${kind}, exclude ${weights} from it or stop it during rollouts.`,
    severity: 'info',
  };
}
