// Creates the TrafficRouter for the routing object(s) the inputs name: an Istio VirtualService
// (./istio/, optionally with DestinationRule subsets) or a Gateway API HTTPRoute (./gateway-api/).
// Several VirtualServices are moved as one by a MultiRouter.
import type { IKubectl } from '../kube/kubectl-helper.js';
import type { Logger } from '../lib/types.js';
import { HttpRouteRouter } from './gateway-api/httproute-router.js';
import { IstioRouter } from './istio/istio-router.js';
import { SubsetRegistry } from './istio/subset-registry.js';
import { MultiRouter } from './multi-router.js';
import type { TrafficRouter } from './router.js';

export interface RouterConfig {
  kubectl: IKubectl;
  namespace: string;
  virtualService: string;
  /** Several VirtualServices (input order); when set, `virtualService` is the first. */
  virtualServices?: string[];
  /** Subset mode: the DestinationRule of the shared Service. */
  destinationRule?: string;
  /** Subset mode: the label whose value names the release. */
  subsetLabel?: string;
  /** Input 'http-route': when set, the router is for this HTTPRoute instead of a VirtualService. */
  httpRoute?: string;
  route?: string;
  helmMajor?: 3 | 4;
  logger?: Pick<Logger, 'info' | 'warning'>;
  /** Reads the recorded stable host from the object's state (chooses the managed route). */
  stableHostOf?: (state: Record<string, string>) => string | undefined;
}

export function createRouter(c: RouterConfig): TrafficRouter {
  if (c.httpRoute)
    return new HttpRouteRouter(c.kubectl, c.httpRoute, c.namespace, {
      route: c.route,
      inputName: 'http-route',
      stableHostOf: c.stableHostOf,
      helmMajor: c.helmMajor,
      logger: c.logger,
    });
  const versions = c.destinationRule
    ? new SubsetRegistry(c.kubectl, c.destinationRule, c.namespace, {
        label: c.subsetLabel ?? 'app.kubernetes.io/instance',
      })
    : undefined;
  const names = c.virtualServices?.length ? c.virtualServices : [c.virtualService];
  const routers = names.map(
    (name) =>
      new IstioRouter(c.kubectl, name, c.namespace, {
        route: c.route,
        inputName: 'virtual-service',
        stableHostOf: c.stableHostOf,
        helmMajor: c.helmMajor,
        logger: c.logger,
        versions,
      }),
  );
  return routers.length === 1 ? routers[0] : new MultiRouter(routers, versions);
}
