/**
 * A Service's cluster IP, as kube-apiserver's service REST strategy keeps
 * it (the ClusterIP allocator and PrepareForUpdate), for the test server:
 *
 * - a Service of type ClusterIP (the default), NodePort or LoadBalancer
 *   without `spec.clusterIP` (or with "") gets a free address of the
 *   service range, 10.96.0.0/12 (kubeadm's default), in `clusterIP` and
 *   `clusterIPs`; 10.96.0.1 is the `kubernetes` Service's and never given;
 * - one given must be in the range and free: else 422, naming
 *   spec.clusterIPs[0] ("provided IP is not in the valid range", "provided
 *   IP is already allocated"); "None" makes a headless Service;
 * - an ExternalName Service has none;
 * - an update that leaves it out keeps it; one that changes it is 422
 *   ("field is immutable");
 * - an address is free again once its Service is deleted (the allocator's
 *   state is the stored Services).
 *
 * Also defaulted as kube does: `type` ClusterIP, `sessionAffinity` None,
 * each port's `protocol` TCP and `targetPort` its port.
 */
import type { StatusCause } from './errors.ts';
import type { KubeObject } from './resources.ts';

const BASE = (10 << 24) | (96 << 16); // 10.96.0.0
const SIZE = 1 << 20; // a /12
/** The range's first addresses: the network, then the `kubernetes` Service's. */
const RESERVED = 2;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const ipOf = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

function numberOf(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function specOf(obj: KubeObject): Record<string, unknown> {
  if (!isObject(obj.spec)) obj.spec = {};
  return obj.spec as Record<string, unknown>;
}

/** kube's defaults of a Service's spec. */
function defaults(spec: Record<string, unknown>): void {
  spec.type ??= 'ClusterIP';
  if (spec.type !== 'ExternalName') spec.sessionAffinity ??= 'None';
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports) {
      if (!isObject(p)) continue;
      p.protocol ??= 'TCP';
      p.targetPort ??= p.port;
    }
  }
}

/**
 * A created Service: defaults, then its cluster IP allocated or checked
 * against `inUse` (every stored Service's). Returns the problems (422 causes).
 */
export function createService(obj: KubeObject, inUse: ReadonlySet<string>): StatusCause[] {
  const spec = specOf(obj);
  defaults(spec);
  if (spec.type === 'ExternalName') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
    return [];
  }
  const given = typeof spec.clusterIP === 'string' && spec.clusterIP !== '' ? spec.clusterIP : Array.isArray(spec.clusterIPs) && typeof spec.clusterIPs[0] === 'string' ? spec.clusterIPs[0] : '';
  if (given === 'None') {
    spec.clusterIP = 'None';
    spec.clusterIPs = ['None'];
    return [];
  }
  if (given !== '') {
    const n = numberOf(given);
    if (n === undefined) return [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', message: `Invalid value: "${given}": must be a valid IP address` }];
    if (n < BASE + RESERVED || n >= BASE + SIZE - 1) {
      return [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', message: `Invalid value: "${given}": failed to allocate IP ${given}: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12` }];
    }
    if (inUse.has(given)) return [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', message: `Invalid value: "${given}": failed to allocate IP ${given}: provided IP is already allocated` }];
    spec.clusterIP = given;
    spec.clusterIPs = [given];
    return [];
  }
  for (let n = BASE + RESERVED; n < BASE + SIZE - 1; n++) {
    const ip = ipOf(n);
    if (inUse.has(ip)) continue;
    spec.clusterIP = ip;
    spec.clusterIPs = [ip];
    return [];
  }
  return [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: 'Internal error: range is full' }];
}

/** An updated Service: defaults, its cluster IP kept when left out, refused when changed. */
export function updateService(old: KubeObject, next: KubeObject): StatusCause[] {
  const spec = specOf(next);
  defaults(spec);
  const before = isObject(old.spec) ? old.spec : {};
  if (spec.type === 'ExternalName') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
    return [];
  }
  const had = typeof before.clusterIP === 'string' ? before.clusterIP : undefined;
  if (had === undefined) return [];
  if (spec.clusterIP === undefined || spec.clusterIP === '') {
    spec.clusterIP = had;
    spec.clusterIPs = [had];
    return [];
  }
  if (spec.clusterIP !== had) return [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', message: `Invalid value: ${JSON.stringify([spec.clusterIP])}: may not change once set` }];
  spec.clusterIPs = [had];
  return [];
}

/** The cluster IPs stored Services hold. */
export function clusterIPsInUse(services: Iterable<KubeObject>): Set<string> {
  const out = new Set<string>();
  for (const s of services) {
    const ip = isObject(s.spec) ? s.spec.clusterIP : undefined;
    if (typeof ip === 'string' && ip !== 'None' && ip !== '') out.add(ip);
  }
  return out;
}
