// Subset mode: the versions of an app are subsets of the DestinationRule of one shared Service.
// Adds and removes subsets with guarded JSON patches (re-read and retried on conflicts), through
// IKubectl; everything else of the DestinationRule is left as it is.
import {
  KubeConflictError,
  KubeNotFoundError,
  type IKubectl,
  type JsonPatchOp,
} from '../../kube/kubectl-helper.js';
import type { Destination, ServiceRef, VersionRegistry } from '../router.js';
import {
  buildAddSubsetPatch,
  buildRemoveSubsetPatch,
  DESTINATION_RULE_RESOURCE,
  findSubset,
  selectorOf,
  subsetLike,
  subsetsOf,
  type DestinationRuleObject,
} from './destination-rule.js';
import { serviceOfHost } from './hosts.js';

export interface SubsetRegistryOptions {
  /** The label whose value names the release (input 'subset-label'). */
  label: string;
  /** Attempts of a guarded write on conflicts (default 5). */
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class SubsetRegistry implements VersionRegistry {
  readonly kind = 'DestinationRule';

  constructor(
    private readonly kubectl: IKubectl,
    readonly name: string,
    private readonly namespace: string,
    private readonly opts: SubsetRegistryOptions,
  ) {}

  private where(): string {
    return `DestinationRule "${this.name}"`;
  }

  private async read(): Promise<DestinationRuleObject> {
    const dr = await this.kubectl.get<DestinationRuleObject>(
      DESTINATION_RULE_RESOURCE,
      this.name,
      this.namespace,
    );
    if (!dr)
      throw new KubeNotFoundError(
        `Input 'destination-rule': ${this.where()} was not found in namespace "${this.namespace}".`,
      );
    return dr;
  }

  async check(stable: Destination): Promise<{ service: ServiceRef; stableRelease?: string }> {
    const dr = await this.read();
    const service = serviceOfHost(stable.host, this.namespace);
    const host = String(dr.spec?.host ?? '');
    const drService = serviceOfHost(host, dr.metadata?.namespace ?? this.namespace);
    if (!host || drService.name !== service.name || drService.namespace !== service.namespace)
      throw new Error(
        `${this.where()} is for host "${host}" (Service ${drService.namespace}/${drService.name}), but the route ` +
          `sends traffic to "${stable.host}" (Service ${service.namespace}/${service.name}): in subset mode both name the one shared Service.`,
      );
    const svc = await this.kubectl.get('services', service.name, service.namespace);
    if (!svc) throw new Error(`The shared Service "${service.namespace}/${service.name}" does not exist.`);
    const names =
      subsetsOf(dr)
        .map((s) => s?.name)
        .join(', ') || '(none)';
    if (!stable.subset)
      throw new Error(
        `In subset mode the route's stable destination "${stable.host}" must name a subset of ${this.where()} (its subsets: ${names}).`,
      );
    const subset = findSubset(dr, stable.subset);
    if (!subset)
      throw new Error(
        `${this.where()} has no subset "${stable.subset}", which the route sends to; its subsets: ${names}.`,
      );
    const release = subset.labels?.[this.opts.label];
    if (!release)
      throw new Error(
        `Subset "${stable.subset}" of ${this.where()} has no label "${this.opts.label}" (input 'subset-label'), so the ` +
          `stable release is unknown; its labels: ${JSON.stringify(subset.labels ?? {})}.`,
      );
    const selector = { ...(svc.spec?.selector ?? {}), ...(subset.labels ?? {}) };
    const pods = await this.kubectl.list('pods', service.namespace, selectorOf(selector));
    if (pods.length === 0)
      throw new Error(
        `Subset "${stable.subset}" of ${this.where()} selects no pods of Service "${service.name}" (selector ${selectorOf(selector)}): ` +
          `the stable release ${release} would get no traffic.`,
      );
    return { service, stableRelease: release };
  }

  destinationOf(release: string, stable: Destination): Omit<Destination, 'weight'> {
    return {
      host: stable.host,
      ...(stable.port !== undefined ? { port: stable.port } : {}),
      subset: release,
    };
  }

  async add(release: string, like: Destination): Promise<void> {
    await this.guarded(`adding subset "${release}"`, (dr) => {
      const found = findSubset(dr, release);
      if (found && found.labels?.[this.opts.label] !== release)
        throw new Error(
          `${this.where()} already has a subset "${release}" that does not select ${this.opts.label}=${release}.`,
        );
      const stable = like.subset ? findSubset(dr, like.subset) : undefined;
      return buildAddSubsetPatch(dr, subsetLike(stable, release, { [this.opts.label]: release }));
    });
  }

  async remove(d: Pick<Destination, 'host' | 'subset'>): Promise<boolean> {
    if (!d.subset) return false;
    let removed = false;
    await this.guarded(`removing subset "${d.subset}"`, (dr) => {
      const ops = buildRemoveSubsetPatch(dr, d.subset!);
      removed = ops !== undefined;
      return ops;
    });
    return removed;
  }

  /** A patch derived from a fresh read; re-read and re-derived when the object changed meanwhile. */
  private async guarded(what: string, build: (dr: DestinationRuleObject) => JsonPatchOp[] | undefined) {
    const max = this.opts.maxAttempts ?? 5;
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise<void>((res) => setTimeout(res, ms)));
    for (let attempt = 1; ; attempt++) {
      const ops = build(await this.read());
      if (!ops) return;
      try {
        await this.kubectl.patchJson(DESTINATION_RULE_RESOURCE, this.name, ops, this.namespace);
        return;
      } catch (err) {
        if (!(err instanceof KubeConflictError) || attempt >= max)
          throw new Error(
            `${this.where()}: ${what} failed: ${err instanceof Error ? err.message : String(err)}`,
            {
              cause: err,
            },
          );
        await sleep(100 * attempt);
      }
    }
  }
}
