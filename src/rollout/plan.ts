// Pure pieces of the rollout plan: which destinations a step writes, which Service of the new
// release gets the traffic.
import type { Destination } from '../router/router.js';
import { servicesInManifest } from '../kube/helm-helper.js';

/** Destinations of the managed route at a canary weight. Weight 0 drops the canary, no stable
 *  means the canary takes everything. At 100 the stable stays listed with weight 0 so that a
 *  rollback during the last bake is a pure weight flip. */
export function stepDestinations(
  stable: Destination | undefined,
  canary: Destination,
  weight: number,
): Destination[] {
  const dest = (d: Destination, w: number): Destination => ({ ...d, weight: w });
  if (!stable) return [dest(canary, 100)];
  if (weight <= 0) return [dest(stable, 100)];
  return [dest(stable, 100 - weight), dest(canary, weight)];
}

export interface ChosenService {
  name: string;
  namespace?: string;
  port?: number;
}

/** The Service of the new release that receives canary traffic, from its rendered manifest. */
export function chooseCanaryService(
  manifest: string,
  wanted: string | undefined,
  stablePort: number | undefined,
): ChosenService {
  const services = servicesInManifest(manifest);
  const names = services.map((s) => s.name).join(', ') || '(none)';
  let svc;
  if (wanted) {
    svc = services.find((s) => s.name === wanted);
    if (!svc)
      throw new Error(`Input 'service': the chart renders no Service "${wanted}"; it renders: ${names}.`);
  } else if (services.length === 1) {
    svc = services[0];
  } else if (services.length === 0) {
    throw new Error(`The chart renders no Service, so there is nothing to route canary traffic to.`);
  } else {
    const byPort = stablePort ? services.filter((s) => s.ports.includes(stablePort)) : [];
    if (byPort.length !== 1) {
      throw new Error(
        `The chart renders several Services (${names}); set input 'service' to the one that should receive traffic.`,
      );
    }
    svc = byPort[0];
  }
  // A canary destination keeps the stable destination's port: users and callers reach the same
  // port whichever version answers, so a Service without it cannot take the stable's place.
  if (stablePort !== undefined && svc.ports.length > 0 && !svc.ports.includes(stablePort))
    throw new Error(
      `Service "${svc.name}" of the new release has no port ${stablePort}, the port the route sends the stable ` +
        `traffic to (it has ${svc.ports.join(', ')}); give it that port.`,
    );
  return { name: svc.name, namespace: svc.namespace, port: stablePort };
}

/** The manifest renders Service `svc` (a manifest object without a namespace lands in `namespace`). */
export function rendersService(
  manifest: string,
  svc: { name: string; namespace: string },
  namespace: string,
): boolean {
  return servicesInManifest(manifest).some(
    (x) => x.name === svc.name && (x.namespace ?? namespace) === svc.namespace,
  );
}

/** `helm list`'s "<chart>-<version>" (e.g. "sample-0.1.0", "my-app-1.2.3-rc.1") split in two. */
export function chartOf(chartField: string): { chart: string; chartVersion?: string } {
  const m = /^(.+?)-(v?\d+\.\d+.*)$/.exec(chartField);
  return m ? { chart: m[1], chartVersion: m[2] } : { chart: chartField };
}
