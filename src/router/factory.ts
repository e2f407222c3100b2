// Creates the TrafficRouter for the routing object the inputs name: an Istio VirtualService
// (./istio/) or a Gateway API HTTPRoute (./gateway-api/).
import type { IKubectl } from '../kube/kubectl-helper.js';
import type { Logger } from '../lib/types.js';
import { HttpRouteRouter } from './gateway-api/httproute-router.js';
import { IstioRouter } from './istio/istio-router.js';
import type { TrafficRouter } from './router.js';

export interface RouterConfig {
  kubectl: IKubectl;
  namespace: string;
  virtualService: string;
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
  return new IstioRouter(c.kubectl, c.virtualService, c.namespace, {
    route: c.route,
    inputName: 'virtual-service',
    stableHostOf: c.stableHostOf,
    helmMajor: c.helmMajor,
    logger: c.logger,
  });
}
