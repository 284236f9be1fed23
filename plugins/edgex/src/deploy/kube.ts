/**
 * A site's EdgeX services as Kubernetes workloads, for the grid (the
 * plugin's `workloads`): each long-running service a DeploymentGrid (one
 * Deployment per site) and a ServiceGrid (one Service, each site's nodes
 * reaching their own site's pods), so every site runs its own EdgeX.
 *
 * - Services reach each other through the ServiceGrids' Services
 *   (`<addon>-<service>-svc`): the host names EdgeX's Compose file writes
 *   into commands and environment are these here.
 * - The config bootstrapper, which EdgeX runs once, is an init container of
 *   each service that waits for it: the common config is in core-keeper
 *   before the service starts (pushing it again changes nothing).
 * - Probes are EdgeX's ping (`/api/v3/ping`), the UI's page, or a TCP
 *   connect for the database and broker; requests and memory limits are
 *   set; containers run as EdgeX's user with a read-only root and no
 *   privilege escalation, as in EdgeX's Compose file.
 * - Volumes are the node's folders (`hostPath`
 *   `/var/lib/edgeadm/<addon>/<volume>`), as a site's gateway keeps them;
 *   Deployments are recreated, never rolled, so two never share one.
 * - Each pod's host name is its own Service's name, which resolves to the
 *   pod inside it (EdgeX's services listen on the names they are given).
 * - Secure mode: the stage gates' extra ports are on the Services; every
 *   pod runs on the security-bootstrapper's node (podAffinity), since the
 *   wrappers' folder and the tokens' folder they share are that node's;
 *   EdgeX's API gateway is not run (its routes resolve through Docker's
 *   DNS), so the UI, which calls EdgeX through it, is refused there.
 * - A device service's own profiles and devices are a ConfigMap per folder,
 *   named by a hash of their files, mounted read-only where its
 *   DEVICE_PROFILESDIR and DEVICE_DEVICESDIR point.
 */
import { createHash } from 'node:crypto';
import type { PluginWorkloads } from '../../../../core/sdk/index.ts';
import { EDGEX_RELEASE } from './release.ts';
import { ErrEdgeXServicesConfig } from '../errors.ts';
import { DEVICE_FILES_ROOT, resolveHosts, type ServiceMount, type ServicePlan } from './services.ts';

type Json = Record<string, unknown>;

/** Where the node keeps a service's data. */
export const HOST_DATA_DIR = '/var/lib/edgeadm';

/** The Service a service is reached by: the ServiceGrid's (`<grid>-svc`, the grid `<addon>-<service>`). */
export function kubeServiceName(addon: string, service: string): string {
  return `${addon}-${service}-svc`;
}

function podLabels(addon: string, s: ServicePlan): Record<string, string> {
  return { 'app.kubernetes.io/name': s.name, 'app.kubernetes.io/part-of': 'edgex', 'app.kubernetes.io/instance': addon };
}

export function renderWorkloads(plan: readonly ServicePlan[], addon: string): PluginWorkloads {
  const planned = new Map(plan.map((s) => [s.name, s]));
  const name = (service: string): string => {
    if (!planned.has(service)) throw new TypeError(`EdgeX service '${service}' is referenced but not planned`);
    return kubeServiceName(addon, service);
  };
  for (const s of plan) {
    const gateway = s.dependsOn.find((d) => planned.get(d)?.composeOnly === true);
    if (gateway !== undefined && !s.composeOnly) {
      throw new ErrEdgeXServicesConfig({
        field: s.name === 'ui' ? 'services.ui' : 'services.secure',
        reason: `is on, but ${s.name} needs ${gateway}, EdgeX's API gateway, which runs only in Compose (its routes use Docker's DNS): on Kubernetes turn ui off, or secure`,
      });
    }
  }
  const bootstrapper = plan.find((s) => s.oneShot);
  const deployments: { name: string; spec: Json }[] = [];
  const services: { name: string; spec: Json }[] = [];
  const configMaps: { name: string; data: Record<string, string> }[] = [];
  for (const s of plan) {
    if (s.oneShot || s.composeOnly) continue;
    const labels = podLabels(addon, s);
    const volumes = new Map<string, Json>();
    const own = (m: ServiceMount): Json => mountOf(addon, m, volumes);
    const mounts: Json[] = (s.mounts ?? []).map(own);
    for (const [folder, files] of Object.entries(s.files ?? {})) {
      const data = Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));
      const name = `${s.name}-${folder}-${createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 10)}`;
      configMaps.push({ name, data });
      volumes.set(`files-${folder}`, { name: `files-${folder}`, configMap: { name: `${addon}-${name}` } });
      mounts.push({ name: `files-${folder}`, mountPath: `${DEVICE_FILES_ROOT}/${folder}`, readOnly: true });
    }
    for (const [i, path] of (s.tmpfs ?? []).entries()) {
      volumes.set(`tmp-${i}`, { name: `tmp-${i}`, emptyDir: { medium: 'Memory' } });
      mounts.push({ name: `tmp-${i}`, mountPath: path });
    }
    const init: Json[] = [];
    if (bootstrapper !== undefined && s.dependsOn.includes(bootstrapper.name)) {
      const m = (bootstrapper.mounts ?? []).map(own);
      init.push({ ...container(bootstrapper, name, false), ...(m.length > 0 ? { volumeMounts: m } : {}) });
    }
    const affinity = s.sameNodeAs === undefined ? undefined : sameNode(addon, planned.get(s.sameNodeAs)!);
    deployments.push({
      name: s.name,
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        // One pod at a time: the database's data is the node's, and no EdgeX service runs twice at a site.
        strategy: { type: 'Recreate' },
        template: {
          metadata: { labels },
          spec: {
            // Its own Service's name resolves to the pod itself (the kubelet's /etc/hosts), as its host name does in Compose:
            // EdgeX's services listen on the host names they are given.
            hostname: kubeServiceName(addon, s.name),
            ...(init.length > 0 ? { initContainers: init } : {}),
            containers: [{ ...container(s, name, true), ...(mounts.length > 0 ? { volumeMounts: mounts } : {}) }],
            ...(volumes.size > 0 ? { volumes: [...volumes.values()] } : {}),
            ...(affinity ? { affinity } : {}),
            enableServiceLinks: false,
          },
        },
      },
    });
    if (s.port !== undefined) {
      const ports = [{ name: portName(s), port: s.port, targetPort: s.port, protocol: 'TCP' }];
      for (const p of s.extraPorts ?? []) ports.push({ name: `tcp-${p}`, port: p, targetPort: p, protocol: 'TCP' });
      services.push({ name: s.name, spec: { selector: labels, ports } });
    }
  }
  return { deployments, services, ...(configMaps.length > 0 ? { configMaps } : {}) };
}

/** A mount of a pod, its volume (the node's folder) added once. */
function mountOf(addon: string, m: ServiceMount, volumes: Map<string, Json>): Json {
  const vname = m.sub === undefined ? m.volume : `${m.volume}-${m.sub}`;
  volumes.set(vname, { name: vname, hostPath: { path: `${HOST_DATA_DIR}/${addon}/${m.volume}${m.sub === undefined ? '' : `/${m.sub}`}`, type: 'DirectoryOrCreate' } });
  return { name: vname, mountPath: m.path, ...(m.readOnly === true ? { readOnly: true } : {}) };
}

/** On the node of `anchor`'s pod (of this Addon: a site's nodes run only their own site's pods). */
function sameNode(addon: string, anchor: ServicePlan): Json {
  return {
    podAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: podLabels(addon, anchor) }, topologyKey: 'kubernetes.io/hostname' }],
    },
  };
}

function portName(s: ServicePlan): string {
  return s.probe !== undefined && 'http' in s.probe ? 'http' : 'tcp';
}

function container(s: ServicePlan, name: (service: string) => string, longRunning: boolean): Json {
  const env = Object.entries(s.env)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => ({ name: k, value: resolveHosts(v, name) }));
  const user = s.user === 'edgex' ? { runAsUser: EDGEX_RELEASE.user.uid, runAsGroup: EDGEX_RELEASE.user.gid } : s.user === 'root' ? { runAsUser: 0, runAsGroup: 0 } : {};
  const out: Json = {
    name: s.name,
    image: s.image,
    // Compose's entrypoint is Kubernetes' command, its command Kubernetes' args.
    ...(s.entrypoint ? { command: s.entrypoint.map((a) => resolveHosts(a, name)) } : {}),
    ...(s.command ? { args: s.command.map((a) => resolveHosts(a, name)) } : {}),
    ...(env.length > 0 ? { env } : {}),
    resources: { requests: { cpu: s.resources.cpu, memory: s.resources.memory }, limits: { memory: s.resources.memoryLimit } },
    securityContext: s.looseRoot ? { ...user } : { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, ...user },
  };
  if (longRunning && s.port !== undefined) {
    out.ports = [{ name: portName(s), containerPort: s.port, protocol: 'TCP' }];
    const probe = s.probe !== undefined && 'http' in s.probe ? { httpGet: { path: s.probe.http, port: s.port } } : { tcpSocket: { port: s.port } };
    out.readinessProbe = { ...probe, periodSeconds: 10, failureThreshold: 3 };
    // EdgeX services wait up to a minute for core-keeper at start (EDGEX_STARTUP_DURATION): liveness gives them that.
    out.livenessProbe = { ...probe, initialDelaySeconds: 60, periodSeconds: 20, failureThreshold: 3 };
  }
  return out;
}
