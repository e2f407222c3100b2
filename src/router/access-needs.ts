// Pure: the permissions a run needs in its namespace, by command and traffic API (what the
// routers, the lease and helm read and write; examples/rbac.yaml grants them). The chart's own
// resources are the user's business and not checked here, except what helm --wait reads.
import type { AccessNeed } from '../kube/access-helper.js';
import type { Settings } from '../lib/types.js';

type Need = [verb: string, group: string, resource: string, name?: string];

const ISTIO = 'networking.istio.io';
const GATEWAY_API = 'gateway.networking.k8s.io';

export function accessNeeds(
  s: Pick<
    Settings,
    | 'command'
    | 'dryRun'
    | 'namespace'
    | 'virtualServices'
    | 'virtualService'
    | 'httpRoute'
    | 'destinationRule'
  >,
): AccessNeed[] {
  const writes = s.command !== 'status' && !s.dryRun;
  const routing: Need[] = s.httpRoute
    ? [['get', GATEWAY_API, 'httproutes', s.httpRoute]]
    : [...new Set(s.virtualServices.length ? s.virtualServices : [s.virtualService])].map((name): Need => [
        'get',
        ISTIO,
        'virtualservices',
        name,
      ]);
  const needs: Need[] = [...routing, ['list', '', 'secrets']]; // helm status reads the release records
  if (s.command !== 'status') {
    needs.push(['get', '', 'namespaces', s.namespace], ['get', '', 'services']);
    if (s.destinationRule)
      needs.push(['get', ISTIO, 'destinationrules', s.destinationRule], ['list', '', 'pods']);
  }
  if (writes) {
    needs.push(...routing.map(([, g, r, n]): Need => ['patch', g, r, n]));
    if (s.destinationRule) needs.push(['patch', ISTIO, 'destinationrules', s.destinationRule]);
    needs.push(
      ['get', 'coordination.k8s.io', 'leases'],
      ['create', 'coordination.k8s.io', 'leases'],
      ['update', 'coordination.k8s.io', 'leases'],
      ['delete', 'coordination.k8s.io', 'leases'],
      // helm's release records: install/upgrade write them, uninstall deletes them
      ['create', '', 'secrets'],
      ['update', '', 'secrets'],
      ['delete', '', 'secrets'],
    );
    // helm --wait follows the chart's Deployments
    if (s.command === 'rollout')
      needs.push(['list', 'apps', 'deployments'], ['watch', 'apps', 'deployments']);
  }
  return needs.map(([verb, group, resource, name]) => ({
    verb,
    group,
    resource,
    namespace: s.namespace,
    ...(name ? { name } : {}),
  }));
}
