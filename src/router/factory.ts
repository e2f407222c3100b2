// Creates the TrafficRouter for the routing object the inputs name. One traffic API today (Istio
// VirtualService); Gateway API HTTPRoute is the next folder beside ./istio/.
import type { IKubectl } from '../kube/kubectl-helper.js';
import type { Logger } from '../lib/types.js';
import { IstioRouter } from './istio/istio-router.js';
import type { TrafficRouter } from './router.js';

export interface RouterConfig {
  kubectl: IKubectl;
  namespace: string;
  virtualService: string;
  route?: string;
  helmMajor?: 3 | 4;
  logger?: Pick<Logger, 'info' | 'warning'>;
  /** Reads the recorded stable host from the object's state (chooses the managed route). */
  stableHostOf?: (state: Record<string, string>) => string | undefined;
}

export function createRouter(c: RouterConfig): TrafficRouter {
  return new IstioRouter(c.kubectl, c.virtualService, c.namespace, {
    route: c.route,
    inputName: 'virtual-service',
    stableHostOf: c.stableHostOf,
    helmMajor: c.helmMajor,
    logger: c.logger,
  });
}
