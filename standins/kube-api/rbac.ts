/* eslint-disable @typescript-eslint/no-explicit-any -- RBAC objects are untyped JSON */
// Authentication (bearer token -> user) and RBAC authorization like the apiserver's RBAC
// authorizer: RoleBindings of the request's namespace and ClusterRoleBindings grant the rules of
// their Role/ClusterRole. See https://kubernetes.io/docs/reference/access-authn-authz/rbac/.
import type { Obj } from './util.js';

export interface UserInfo {
  name: string;
  groups: string[];
}

/** What the authorizer decides on (the apiserver's authorizer.Attributes). */
export interface RequestAttributes {
  verb: string;
  /** Resource requests: group ('' = core), resource, subresource, namespace ('' = cluster), name. */
  resourceRequest: boolean;
  group?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Non-resource requests. */
  path?: string;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** The bindings and roles RBAC reads from storage. */
export interface RbacObjects {
  roleBindings(namespace: string): Obj[];
  role(namespace: string, name: string): Obj | undefined;
  clusterRoleBindings(): Obj[];
  clusterRole(name: string): Obj | undefined;
}

const SUPERUSER_GROUP = 'system:masters';

/**
 * What every authenticated user may do in a real cluster: discovery, version, health and OpenAPI
 * (ClusterRoles system:discovery, system:public-info-viewer) and self reviews (system:basic-user).
 */
const BASIC_RULES: PolicyRule[] = [
  {
    verbs: ['get'],
    nonResourceURLs: [
      '/api',
      '/api/*',
      '/apis',
      '/apis/*',
      '/openapi',
      '/openapi/*',
      '/version',
      '/version/',
    ],
  },
  { verbs: ['get'], nonResourceURLs: ['/healthz', '/livez', '/readyz'] },
  {
    verbs: ['create'],
    apiGroups: ['authorization.k8s.io'],
    resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
  },
];

export class Authenticator {
  private tokens = new Map<string, UserInfo>();

  /** A token that authenticates as `user` (groups plus system:authenticated). */
  addToken(token: string, user: string, groups: string[] = []): void {
    this.tokens.set(token, { name: user, groups: [...new Set([...groups, 'system:authenticated'])] });
  }

  /** undefined for an unknown token (401); no Authorization header at all = `anonymous`. */
  authenticate(authorization: string | undefined, anonymous: UserInfo): UserInfo | undefined {
    if (!authorization) return anonymous;
    const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    return m ? this.tokens.get(m[1]) : undefined;
  }
}

const has = (list: string[] | undefined, v: string): boolean =>
  !!list && (list.includes('*') || list.includes(v));

function resourceMatches(rule: PolicyRule, a: RequestAttributes): boolean {
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource!;
  const resources = rule.resources ?? [];
  return (
    resources.includes('*') ||
    resources.includes(full) ||
    (!!a.subresource && resources.includes(`*/${a.subresource}`))
  );
}

function urlMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) =>
    u === '*' ? true : u.endsWith('*') ? path.startsWith(u.slice(0, -1)) : u === path,
  );
}

export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return urlMatches(rule, a.path ?? '');
  if (!has(rule.apiGroups, a.group ?? '') || !resourceMatches(rule, a)) return false;
  // resourceNames can only restrict requests that name an object (never create or list)
  return !rule.resourceNames?.length || (!!a.name && rule.resourceNames.includes(a.name));
}

function subjectMatches(subject: any, user: UserInfo, bindingNamespace: string): boolean {
  switch (subject?.kind) {
    case 'User':
      return subject.name === user.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount':
      return user.name === `system:serviceaccount:${subject.namespace ?? bindingNamespace}:${subject.name}`;
    default:
      return false;
  }
}

const rulesOf = (role: Obj | undefined): PolicyRule[] =>
  Array.isArray(role?.rules) ? (role.rules as PolicyRule[]) : [];

/** Every rule that applies to `user` in `namespace` ('' = cluster-wide rules only). */
export function rulesFor(objects: RbacObjects, user: UserInfo, namespace: string): PolicyRule[] {
  const rules: PolicyRule[] = [...BASIC_RULES];
  for (const b of objects.clusterRoleBindings()) {
    if (b.roleRef?.kind !== 'ClusterRole') continue;
    if ((b.subjects ?? []).some((s: any) => subjectMatches(s, user, '')))
      rules.push(...rulesOf(objects.clusterRole(b.roleRef.name)));
  }
  if (namespace) {
    for (const b of objects.roleBindings(namespace)) {
      if (!(b.subjects ?? []).some((s: any) => subjectMatches(s, user, namespace))) continue;
      const role =
        b.roleRef?.kind === 'ClusterRole'
          ? objects.clusterRole(b.roleRef.name)
          : b.roleRef?.kind === 'Role'
            ? objects.role(namespace, b.roleRef.name)
            : undefined;
      rules.push(...rulesOf(role));
    }
  }
  return rules;
}

export function authorize(objects: RbacObjects, user: UserInfo, a: RequestAttributes): boolean {
  if (user.groups.includes(SUPERUSER_GROUP)) return true;
  return rulesFor(objects, user, a.resourceRequest ? (a.namespace ?? '') : '').some((r) => ruleAllows(r, a));
}

/** The apiserver's Forbidden message for a denied request. */
export function forbiddenMessage(user: UserInfo, a: RequestAttributes): string {
  if (!a.resourceRequest) return `forbidden: User "${user.name}" cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource!;
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource!;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `${subject} is forbidden: User "${user.name}" cannot ${a.verb} resource "${res}" in API group "${a.group ?? ''}" ${scope}`;
}

/** The verb of a request the way RBAC names it. */
export function verbOf(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return named ? 'get' : watch ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

/** A SelfSubjectRulesReview's status: the user's rules in one namespace. */
export function rulesReviewStatus(rules: PolicyRule[]): Obj {
  return {
    resourceRules: rules
      .filter((r) => !r.nonResourceURLs?.length)
      .map((r) => ({
        verbs: r.verbs,
        apiGroups: r.apiGroups ?? [],
        resources: r.resources ?? [],
        ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}),
      })),
    nonResourceRules: rules
      .filter((r) => r.nonResourceURLs?.length)
      .map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs })),
    incomplete: false,
  };
}
