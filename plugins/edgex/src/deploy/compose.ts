/**
 * A site's EdgeX services as a Compose project (the Compose specification,
 * for `docker compose` and `podman compose`), as EdgeX's own non-secure
 * Compose file defines them: the same service names, host names (network
 * aliases, so several sites' projects never clash on container names),
 * commands, environment, dependencies, read-only roots, EdgeX's user and
 * `no-new-privileges`. What differs, and why:
 *
 * - ports are published on loopback only, the UI's too (EdgeX publishes it
 *   on every address); the database is not published at all;
 * - EdgeX's message bus is published on `busPort` (1884 by default), since
 *   the site's own broker holds 1883 on the node;
 * - services that take their config from core-keeper have
 *   `EDGEX_OVERWRITE_CONFIG=true` (the plan's), so a changed environment
 *   reaches core-keeper on their next start, not only the first;
 * - every object carries the project's labels, so what the site agent runs
 *   is found, and removed, by project;
 * - secure mode's folder of service tokens (EdgeX binds the host's
 *   /tmp/edgex/secrets, one per host) is the project's own `secrets`
 *   folder beside its file, so two projects never share tokens;
 * - a device service's own profiles and devices are Compose configs with
 *   their text inline (`$` written `$$`, so Compose does not interpolate
 *   it), mounted read-only where its DEVICE_PROFILESDIR and
 *   DEVICE_DEVICESDIR point.
 */
import { EDGEX_RELEASE } from './release.ts';
import { DEVICE_FILES_ROOT, resolveHosts, SECRETS_VOLUME, type ServicePlan } from './services.ts';

/** Labels on every service of the project. */
export const COMPOSE_LABELS = { site: 'io.edgeadm.site', addon: 'io.edgeadm.addon' } as const;
/** EdgeX's Compose network. */
export const COMPOSE_NETWORK = 'edgex-network';

export interface ComposeOptions {
  /** The Compose project name. */
  project: string;
  site: string;
  addon: string;
  /** The node's port for EdgeX's message bus. */
  busPort: number;
}

type Json = Record<string, unknown>;

/** The project name of a site's EdgeX: a valid Compose project name (lowercase letters, digits, dashes). */
export function composeProjectName(addon: string, site: string): string {
  return `edgeadm-${addon}-${site}`.toLowerCase().replace(/[^a-z0-9_-]/g, '-');
}

/** The Compose document of a site's services (an empty plan has no services and is not run). */
export function renderCompose(plan: readonly ServicePlan[], o: ComposeOptions): Json {
  const hostOf = new Map(plan.map((s) => [s.name, s.host]));
  const name = (service: string): string => {
    const h = hostOf.get(service);
    if (h === undefined) throw new TypeError(`EdgeX service '${service}' is referenced but not planned`);
    return h;
  };
  const labels = { [COMPOSE_LABELS.site]: o.site, [COMPOSE_LABELS.addon]: o.addon };
  const services: Record<string, Json> = {};
  const volumes: Record<string, Json> = {};
  const configs: Record<string, Json> = {};
  for (const s of plan) {
    const svc: Json = {
      image: s.image,
      hostname: s.host,
      networks: { [COMPOSE_NETWORK]: { aliases: [s.host] } },
      labels: { ...labels },
    };
    if (s.entrypoint) svc.entrypoint = s.entrypoint.map((a) => resolveHosts(a, name));
    if (s.command) svc.command = s.command.map((a) => resolveHosts(a, name));
    if (Object.keys(s.env).length > 0) svc.environment = Object.fromEntries(Object.entries(s.env).map(([k, v]) => [k, resolveHosts(v, name)]));
    if (s.port !== undefined && s.publish) {
      const hostPort = s.name === 'mqtt-broker' ? o.busPort : s.port;
      svc.ports = [`127.0.0.1:${hostPort}:${s.port}/tcp`];
    }
    if (s.dependsOn.length > 0) svc.depends_on = Object.fromEntries(s.dependsOn.map((d) => [d, { condition: 'service_started', required: true }]));
    if (!s.looseRoot) {
      svc.read_only = true;
      svc.security_opt = ['no-new-privileges:true'];
    }
    if (s.user === 'edgex') svc.user = `${EDGEX_RELEASE.user.uid}:${EDGEX_RELEASE.user.gid}`;
    else if (s.user === 'root') svc.user = 'root:root';
    if (!s.oneShot) svc.restart = 'always';
    if (s.tmpfs) svc.tmpfs = [...s.tmpfs];
    const mounts: Json[] = [{ type: 'bind', source: '/etc/localtime', target: '/etc/localtime', read_only: true, bind: { create_host_path: true } }];
    for (const m of s.mounts ?? []) {
      const ro = m.readOnly === true ? { read_only: true } : {};
      if (m.volume === SECRETS_VOLUME) {
        // The project's own folder of tokens, beside its file (EdgeX binds /tmp/edgex/secrets: one per host).
        const source = `${SECRETS_FOLDER}${m.sub === undefined ? '' : `/${m.sub}`}`;
        mounts.push({ type: 'bind', source, target: m.path, ...ro, bind: { create_host_path: true, selinux: 'z' } });
      } else {
        mounts.push({ type: 'volume', source: m.volume, target: m.path, ...ro });
        volumes[m.volume] = { labels: { ...labels } };
      }
    }
    svc.volumes = mounts;
    const mine: Json[] = [];
    for (const [folder, files] of Object.entries(s.files ?? {})) {
      for (const [file, text] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
        const source = `${s.name}-${folder}-${file}`;
        configs[source] = { content: text.replaceAll('$', '$$$$'), labels: { ...labels } };
        mine.push({ source, target: `${DEVICE_FILES_ROOT}/${folder}/${file}`, mode: 0o444 });
      }
    }
    if (mine.length > 0) svc.configs = mine;
    svc.mem_limit = bytesOf(s.resources.memoryLimit);
    services[s.name] = svc;
  }
  return {
    name: o.project,
    services,
    networks: { [COMPOSE_NETWORK]: { driver: 'bridge', labels: { ...labels } } },
    ...(Object.keys(volumes).length > 0 ? { volumes } : {}),
    ...(Object.keys(configs).length > 0 ? { configs } : {}),
  };
}

/** Where a project's folder of service tokens is beside its file (secure mode). */
export const SECRETS_FOLDER = `./${SECRETS_VOLUME}`;

/** The service that binds the whole folder of tokens (secure mode's secretstore-setup, its one writer) and where; undefined without one. */
export function tokenWriterOf(doc: unknown): { service: string; target: string } | undefined {
  const services = (doc as { services?: Record<string, { volumes?: unknown[] }> } | undefined)?.services ?? {};
  for (const [service, svc] of Object.entries(services)) {
    for (const v of svc.volumes ?? []) {
      const m = v as { type?: unknown; source?: unknown; target?: unknown; read_only?: unknown };
      if (m.type === 'bind' && m.source === SECRETS_FOLDER && typeof m.target === 'string' && m.read_only !== true) return { service, target: m.target };
    }
  }
  return undefined;
}

/** A Kubernetes memory quantity (Mi, Gi) as Compose's byte value. */
function bytesOf(q: string): string {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  if (!m) throw new TypeError(`memory quantity '${q}' is not <n>Mi or <n>Gi`);
  return `${m[1]}${m[2] === 'Mi' ? 'm' : 'g'}`;
}
