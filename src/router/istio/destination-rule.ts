// Pure: the parts of an Istio DestinationRule that subset mode reads, and guarded JSON patches that
// add or remove one subset and touch nothing else. See
// https://istio.io/latest/docs/reference/config/networking/destination-rule/.
import type { JsonPatchOp, KubeMetadata } from '../../kube/kubectl-helper.js';

export const DESTINATION_RULE_RESOURCE = 'destinationrules.networking.istio.io';

export interface DrSubset {
  name?: string;
  labels?: Record<string, string>;
  trafficPolicy?: unknown;
  [k: string]: unknown;
}

export interface DestinationRuleObject {
  metadata?: KubeMetadata;
  spec?: { host?: string; subsets?: DrSubset[]; [k: string]: unknown };
  [k: string]: unknown;
}

export function subsetsOf(dr: DestinationRuleObject | undefined): DrSubset[] {
  return Array.isArray(dr?.spec?.subsets) ? dr.spec.subsets : [];
}

export function findSubset(dr: DestinationRuleObject, name: string): DrSubset | undefined {
  return subsetsOf(dr).find((s) => s?.name === name);
}

/** The new subset: every field of `like` (trafficPolicy, …) but its name and labels. */
export function subsetLike(
  like: DrSubset | undefined,
  name: string,
  labels: Record<string, string>,
): DrSubset {
  const copy: DrSubset = like ? structuredClone(like) : {};
  return { ...copy, name, labels: { ...labels } };
}

function testVersion(dr: DestinationRuleObject): JsonPatchOp {
  const rv = dr?.metadata?.resourceVersion;
  if (typeof rv !== 'string' || rv === '')
    throw new Error('The DestinationRule has no metadata.resourceVersion; read it before patching.');
  return { op: 'test', path: '/metadata/resourceVersion', value: rv };
}

/** [test resourceVersion, add the subset at the end]; undefined when one of that name exists. */
export function buildAddSubsetPatch(dr: DestinationRuleObject, subset: DrSubset): JsonPatchOp[] | undefined {
  if (subset.name && findSubset(dr, subset.name)) return undefined;
  const ops: JsonPatchOp[] = [testVersion(dr)];
  if (Array.isArray(dr.spec?.subsets)) ops.push({ op: 'add', path: '/spec/subsets/-', value: subset });
  else ops.push({ op: 'add', path: '/spec/subsets', value: [subset] });
  return ops;
}

/** [test resourceVersion, test the subset's name, remove it]; undefined when there is none. */
export function buildRemoveSubsetPatch(dr: DestinationRuleObject, name: string): JsonPatchOp[] | undefined {
  const i = subsetsOf(dr).findIndex((s) => s?.name === name);
  if (i < 0) return undefined;
  return [
    testVersion(dr),
    { op: 'test', path: `/spec/subsets/${i}/name`, value: name },
    { op: 'remove', path: `/spec/subsets/${i}` },
  ];
}

/** A label selector string (`k=v,k2=v2`) for kubectl. */
export function selectorOf(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
