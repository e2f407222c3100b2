// Pure: how an Istio destination host names a Kubernetes Service, and back.
// See https://istio.io/latest/docs/reference/config/networking/virtual-service/#Destination.
import type { ServiceRef } from '../router.js';

/** "svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local" -> Service; anything else (an external
 *  host such as "api.example.com" with a non-cluster suffix) still maps by its first two labels,
 *  which is what Istio does for short names relative to the VirtualService's namespace. */
export function serviceOfHost(host: string, vsNamespace: string): ServiceRef {
  const parts = host.split('.');
  if (parts.length === 1) return { name: parts[0], namespace: vsNamespace };
  return { name: parts[0], namespace: parts[1] };
}

/** The host to write in a route for a Service: short when it lives beside the VirtualService. */
export function hostOfService(svc: ServiceRef, vsNamespace: string): string {
  return svc.namespace === vsNamespace ? svc.name : `${svc.name}.${svc.namespace}.svc.cluster.local`;
}

/** Two hosts name the same Service. */
export function sameService(a: string, b: string, vsNamespace: string): boolean {
  const x = serviceOfHost(a, vsNamespace);
  const y = serviceOfHost(b, vsNamespace);
  return x.name === y.name && x.namespace === y.namespace;
}

/**
 * Is `host` written as an in-cluster Service name: "name", "name.ns", "name.ns.svc" or
 * "name.ns.svc.cluster.local"? Anything else ("api.example.com", another cluster domain) is a host
 * Istio resolves outside the Service registry (a ServiceEntry, or passthrough).
 */
export function isServiceForm(host: string): boolean {
  const parts = host.toLowerCase().replace(/\.$/, '').split('.');
  if (parts.some((p) => p === '')) return false;
  if (parts.length <= 2) return true;
  if (parts[2] !== 'svc') return false;
  return parts.length === 3 || (parts.length === 5 && parts[3] === 'cluster' && parts[4] === 'local');
}

/** The ways a Service's host is written (short form only in its own namespace). */
export function hostForms(svc: ServiceRef, vsNamespace: string): string[] {
  const full = `${svc.name}.${svc.namespace}`;
  const forms = [full, `${full}.svc`, `${full}.svc.cluster.local`];
  return svc.namespace === vsNamespace ? [svc.name, ...forms] : forms;
}
