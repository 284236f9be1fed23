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
 * - The database keeps its data on the node (`hostPath`
 *   `/var/lib/edgeadm/<addon>/<volume>`), as a site's gateway keeps it;
 *   its Deployment is recreated, never rolled, so two never share it.
 * - A device service's own profiles and devices are a ConfigMap per folder,
 *   named by a hash of their files, mounted read-only where its
 *   DEVICE_PROFILESDIR and DEVICE_DEVICESDIR point.
 */
import { createHash } from 'node:crypto';
import type { PluginWorkloads } from '../../../../core/sdk/index.ts';
import { EDGEX_RELEASE } from './release.ts';
import { DEVICE_FILES_ROOT, resolveHosts, type ServicePlan } from './services.ts';

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
  const planned = new Set(plan.map((s) => s.name));
  const name = (service: string): string => {
    if (!planned.has(service)) throw new TypeError(`EdgeX service '${service}' is referenced but not planned`);
    return kubeServiceName(addon, service);
  };
  const bootstrapper = plan.find((s) => s.oneShot);
  const deployments: { name: string; spec: Json }[] = [];
  const services: { name: string; spec: Json }[] = [];
  const configMaps: { name: string; data: Record<string, string> }[] = [];
  for (const s of plan) {
    if (s.oneShot) continue;
    const labels = podLabels(addon, s);
    const volumes: Json[] = [];
    const mounts: Json[] = [];
    if (s.data) {
      volumes.push({ name: s.data.volume, hostPath: { path: `${HOST_DATA_DIR}/${addon}/${s.data.volume}`, type: 'DirectoryOrCreate' } });
      mounts.push({ name: s.data.volume, mountPath: s.data.path });
    }
    for (const [folder, files] of Object.entries(s.files ?? {})) {
      const data = Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));
      const name = `${s.name}-${folder}-${createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 10)}`;
      configMaps.push({ name, data });
      volumes.push({ name: `files-${folder}`, configMap: { name: `${addon}-${name}` } });
      mounts.push({ name: `files-${folder}`, mountPath: `${DEVICE_FILES_ROOT}/${folder}`, readOnly: true });
    }
    for (const [i, path] of (s.tmpfs ?? []).entries()) {
      volumes.push({ name: `tmp-${i}`, emptyDir: { medium: 'Memory' } });
      mounts.push({ name: `tmp-${i}`, mountPath: path });
    }
    const init = bootstrapper !== undefined && s.dependsOn.includes(bootstrapper.name) ? [container(bootstrapper, name, false)] : [];
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
            ...(init.length > 0 ? { initContainers: init } : {}),
            containers: [{ ...container(s, name, true), ...(mounts.length > 0 ? { volumeMounts: mounts } : {}) }],
            ...(volumes.length > 0 ? { volumes } : {}),
            enableServiceLinks: false,
          },
        },
      },
    });
    if (s.port !== undefined) {
      services.push({ name: s.name, spec: { selector: labels, ports: [{ name: portName(s), port: s.port, targetPort: s.port, protocol: 'TCP' }] } });
    }
  }
  return { deployments, services, ...(configMaps.length > 0 ? { configMaps } : {}) };
}

function portName(s: ServicePlan): string {
  return s.probe !== undefined && 'http' in s.probe ? 'http' : 'tcp';
}

function container(s: ServicePlan, name: (service: string) => string, longRunning: boolean): Json {
  const env = Object.entries(s.env)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => ({ name: k, value: resolveHosts(v, name) }));
  const out: Json = {
    name: s.name,
    image: s.image,
    ...(s.command ? { args: s.command.map((a) => resolveHosts(a, name)) } : {}),
    ...(env.length > 0 ? { env } : {}),
    resources: { requests: { cpu: s.resources.cpu, memory: s.resources.memory }, limits: { memory: s.resources.memoryLimit } },
    securityContext: {
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      ...(s.edgexUser ? { runAsUser: EDGEX_RELEASE.user.uid, runAsGroup: EDGEX_RELEASE.user.gid } : {}),
    },
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
