// Pure: an HTTPRoute + what to change -> a guarded JSON patch that touches only that: the managed
// rule's backendRefs, or the pinned rule appended after the others. No I/O.
import type { JsonPatchOp } from '../../kube/kubectl-helper.js';
import { validateDestinations, type Destination, type PinnedRoute } from '../router.js';
import {
  hostOfRef,
  isPinned,
  isServiceRef,
  MAX_RULES,
  PINNED_RULE_NAME,
  refOfHost,
  rulesOf,
  type BackendRef,
  type HttpRouteMatch,
  type HttpRouteObject,
  type HttpRouteRule,
} from './http-route.js';

function ruleAt(route: HttpRouteObject, index: number): HttpRouteRule {
  const rule = rulesOf(route)[index];
  if (!Number.isInteger(index) || !rule)
    throw new Error(`HTTPRoute "${route?.metadata?.name ?? '?'}" has no rule #${index}.`);
  return rule;
}

function testVersion(route: HttpRouteObject): JsonPatchOp {
  const rv = route?.metadata?.resourceVersion;
  if (typeof rv !== 'string' || rv === '')
    throw new Error(
      'The HTTPRoute has no metadata.resourceVersion; read it from the cluster before patching.',
    );
  return { op: 'test', path: '/metadata/resourceVersion', value: rv };
}

/** The fields of a backendRef other than who it names and its weight (filters, …). */
function extrasOf(ref: BackendRef | undefined): Record<string, unknown> {
  if (!ref) return {};
  const skip = new Set(['group', 'kind', 'name', 'namespace', 'port', 'weight']);
  return structuredClone(Object.fromEntries(Object.entries(ref).filter(([k]) => !skip.has(k))));
}

/**
 * [test resourceVersion, test the rule's name (or, unnamed, its current backendRefs), replace
 * /spec/rules/{i}/backendRefs]. A backend already listed keeps every field it had and gets the new
 * weight (and port, if given); a new one copies the per-backend filters of the first Service backend,
 * so the canary gets the same request handling as the stable. Weights are written as given (summing to 100).
 */
export function buildWeightPatch(
  route: HttpRouteObject,
  index: number,
  destinations: Destination[],
): JsonPatchOp[] {
  validateDestinations(destinations);
  const version = testVersion(route);
  const rule = ruleAt(route, index);
  const ns = route?.metadata?.namespace ?? '';
  const current = Array.isArray(rule.backendRefs) ? rule.backendRefs : [];
  if (current.length === 0)
    throw new Error(`Rule #${index} has no backendRefs (a redirect?); it cannot be weighted.`);
  const existing = new Map<string, BackendRef>();
  for (const r of current) if (!existing.has(hostOfRef(r, ns))) existing.set(hostOfRef(r, ns), r);
  const template = current.find(isServiceRef);
  const next = destinations.map((d): BackendRef => {
    const old = existing.get(d.host);
    const ref: BackendRef = old ? structuredClone(old) : { ...refOfHost(d.host, ns), ...extrasOf(template) };
    if (d.port !== undefined) ref.port = d.port;
    else if (!old && typeof template?.port === 'number') ref.port = template.port;
    ref.weight = d.weight;
    return ref;
  });
  const base = `/spec/rules/${index}`;
  return [
    version,
    rule.name
      ? { op: 'test', path: `${base}/name`, value: rule.name }
      : { op: 'test', path: `${base}/backendRefs`, value: current },
    { op: 'replace', path: `${base}/backendRefs`, value: next },
  ];
}

/**
 * The pinned rule: the managed rule's every field (filters, timeouts, retry, …) so a pinned probe
 * takes the users' path, with every match (none = path prefix "/", the Gateway API default) also
 * requiring `header: value`, and one backend, the pinned destination. Gateway API precedence ranks
 * a match with more header matches above the same match with fewer, so only marked requests take it;
 * appended last, it loses every tie with the route's other rules, as the users' requests do.
 */
export function pinnedRule(managed: HttpRouteRule, pin: PinnedRoute, routeNamespace: string): HttpRouteRule {
  const copy = structuredClone(managed);
  const header = { type: 'Exact', name: pin.header, value: pin.value };
  const matches: HttpRouteMatch[] =
    Array.isArray(copy.matches) && copy.matches.length > 0
      ? copy.matches
      : [{ path: { type: 'PathPrefix', value: '/' } }];
  copy.matches = matches.map((m) => ({
    ...m,
    headers: [
      ...(Array.isArray(m.headers) ? m.headers : []).filter(
        (h) => String(h?.name ?? '').toLowerCase() !== pin.header.toLowerCase(),
      ),
      header,
    ],
  }));
  copy.name = PINNED_RULE_NAME;
  const first = (managed.backendRefs ?? []).find(isServiceRef);
  const ref: BackendRef = { ...refOfHost(pin.destination.host, routeNamespace), ...extrasOf(first) };
  const port = pin.destination.port ?? first?.port;
  if (port !== undefined) ref.port = port;
  ref.weight = 100;
  copy.backendRefs = [ref];
  return copy;
}

/** Appends the pinned rule (replacing an existing one); an error when the route would exceed 16 rules. */
export function buildPinPatch(route: HttpRouteObject, managedIndex: number, pin: PinnedRoute): JsonPatchOp[] {
  const rules = rulesOf(route);
  const value = pinnedRule(ruleAt(route, managedIndex), pin, route?.metadata?.namespace ?? '');
  const ops: JsonPatchOp[] = [testVersion(route)];
  const existing = rules.findIndex(isPinned);
  if (existing >= 0) {
    ops.push({ op: 'test', path: `/spec/rules/${existing}/name`, value: PINNED_RULE_NAME });
    ops.push({ op: 'remove', path: `/spec/rules/${existing}` });
  } else if (rules.length >= MAX_RULES) {
    throw new Error(
      `HTTPRoute "${route?.metadata?.name ?? '?'}" has ${rules.length} rules, the most Gateway API allows (${MAX_RULES}); ` +
        `helm-canary needs one more for the rule that pins its probes to the canary. Merge two rules or move some ` +
        `to another HTTPRoute.`,
    );
  }
  ops.push({ op: 'add', path: '/spec/rules/-', value });
  return ops;
}

/** Removes the pinned rule; undefined when there is none. */
export function buildUnpinPatch(route: HttpRouteObject): JsonPatchOp[] | undefined {
  const i = rulesOf(route).findIndex(isPinned);
  if (i < 0) return undefined;
  return [
    testVersion(route),
    { op: 'test', path: `/spec/rules/${i}/name`, value: PINNED_RULE_NAME },
    { op: 'remove', path: `/spec/rules/${i}` },
  ];
}
